// SequenceGate: a lossy feed in, per-channel seq order with no gap and no
// repeat out; holes are filled from history, never skipped silently.
#include <string>
#include <vector>

#include "chat/sequence_gate.h"
#include "cmocka_wrap.h"

namespace {

using chat::SequenceGate;
using chat::StoredMessage;

StoredMessage M(uint64_t seq) {
  StoredMessage m;
  m.seq = seq;
  m.id = "id-" + std::to_string(seq);
  return m;
}

std::vector<StoredMessage> Range(uint64_t from, uint64_t to) {
  std::vector<StoredMessage> v;
  for (uint64_t s = from; s <= to; ++s) v.push_back(M(s));
  return v;
}

void ExpectSeqs(const SequenceGate::Output& out, std::vector<uint64_t> want) {
  if (out.deliver.size() != want.size()) fail_msg("delivered %zu, expected %zu", out.deliver.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) assert_int_equal(out.deliver[i].seq, want[i]);
}

void test_in_order_feed_passes_through(void**) {
  SequenceGate g;
  SequenceGate::Output out;
  for (uint64_t s = 5; s <= 8; ++s) g.OnFeed("a", M(s), &out);  // the first message starts the sequence
  ExpectSeqs(out, {5, 6, 7, 8});
  assert_true(out.fills.empty());
  assert_int_equal(g.Delivered("a"), 8);
}

void test_repeats_are_dropped(void**) {
  SequenceGate g;
  SequenceGate::Output out;
  g.OnFeed("a", M(1), &out);
  g.OnFeed("a", M(2), &out);
  g.OnFeed("a", M(2), &out);
  g.OnFeed("a", M(1), &out);
  ExpectSeqs(out, {1, 2});
}

void test_hole_is_filled_before_later_messages(void**) {
  SequenceGate g(100);
  SequenceGate::Output out;
  g.OnFeed("a", M(1), &out);
  g.OnFeed("a", M(5), &out);
  g.OnFeed("a", M(6), &out);
  ExpectSeqs(out, {1});
  assert_int_equal(out.fills.size(), 1);  // one fill at a time
  SequenceGate::Fill f = out.fills[0];
  assert_string_equal(f.channel.c_str(), "a");
  assert_int_equal(f.after, 1);
  assert_int_equal(f.upto, 4);
  SequenceGate::Output out2;
  g.OnFill(f, Range(2, 4), &out2);
  ExpectSeqs(out2, {2, 3, 4, 5, 6});
  assert_int_equal(out2.skipped, 0);
  assert_true(out2.fills.empty());
}

void test_channels_are_independent(void**) {
  SequenceGate g;
  SequenceGate::Output out;
  g.OnFeed("a", M(1), &out);
  g.OnFeed("b", M(10), &out);
  g.OnFeed("a", M(3), &out);  // hole in a
  g.OnFeed("b", M(11), &out);
  ExpectSeqs(out, {1, 10, 11});
  assert_int_equal(out.fills.size(), 1);
  assert_string_equal(out.fills[0].channel.c_str(), "a");
}

void test_trimmed_hole_is_counted_not_silent(void**) {
  SequenceGate g(100);
  SequenceGate::Output out;
  g.OnFeed("a", M(1), &out);
  g.OnFeed("a", M(10), &out);
  SequenceGate::Output out2;
  g.OnFill(out.fills[0], Range(6, 9), &out2);  // 2..5 were trimmed
  ExpectSeqs(out2, {6, 7, 8, 9, 10});
  assert_int_equal(out2.skipped, 4);
  SequenceGate::Output out3;
  g.OnFeed("a", M(12), &out3);
  SequenceGate::Output out4;
  g.OnFill(out3.fills[0], {}, &out4);  // 11 is gone entirely
  ExpectSeqs(out4, {12});
  assert_int_equal(out4.skipped, 1);
}

void test_long_hole_is_fetched_page_by_page(void**) {
  SequenceGate g(3);
  SequenceGate::Output out;
  g.OnFeed("a", M(1), &out);
  g.OnFeed("a", M(9), &out);
  SequenceGate::Fill f = out.fills.at(0);
  SequenceGate::Output o1;
  g.OnFill(f, Range(2, 4), &o1);  // a full page: more to come
  ExpectSeqs(o1, {2, 3, 4});
  assert_int_equal(o1.fills.size(), 1);
  assert_int_equal(o1.fills[0].after, 4);
  assert_int_equal(o1.fills[0].upto, 8);
  SequenceGate::Output o2;
  g.OnFill(o1.fills[0], Range(5, 7), &o2);
  SequenceGate::Output o3;
  g.OnFill(o2.fills.at(0), Range(8, 8), &o3);
  ExpectSeqs(o3, {8, 9});
  assert_int_equal(g.Delivered("a"), 9);
}

void test_failed_fill_is_asked_again(void**) {
  SequenceGate g;
  SequenceGate::Output out;
  g.OnFeed("a", M(1), &out);
  g.OnFeed("a", M(3), &out);
  assert_int_equal(out.fills.size(), 1);
  g.OnFillFailed("a");
  SequenceGate::Output out2;
  g.OnFeed("a", M(4), &out2);
  assert_int_equal(out2.fills.size(), 1);
  assert_int_equal(out2.fills[0].after, 1);
  assert_int_equal(out2.fills[0].upto, 2);
  SequenceGate::Output out3;
  g.OnFill(out2.fills[0], Range(2, 2), &out3);
  ExpectSeqs(out3, {2, 3, 4});
}

void test_head_after_feed_loss_fetches_the_rest(void**) {
  SequenceGate g;
  SequenceGate::Output out;
  g.OnFeed("a", M(1), &out);
  g.OnFeed("a", M(2), &out);
  // The feed was lost; 3..5 were published meanwhile.
  SequenceGate::Output o1;
  g.OnHead("a", 5, &o1);
  assert_int_equal(o1.fills.size(), 1);
  // Live messages arrive before the fill answers: held.
  g.OnFeed("a", M(6), &o1);
  ExpectSeqs(o1, {});
  SequenceGate::Output o2;
  g.OnFill(o1.fills[0], Range(3, 5), &o2);
  ExpectSeqs(o2, {3, 4, 5, 6});
  // A head not above what was delivered asks nothing.
  SequenceGate::Output o3;
  g.OnHead("a", 6, &o3);
  g.OnHead("unknown", 9, &o3);
  assert_true(o3.fills.empty());
  assert_true(g.Channels() == std::vector<std::string>{"a"});
}

void test_start_sets_the_baseline(void**) {
  SequenceGate g;
  SequenceGate::Output out;
  g.Start("a", 5, &out);  // head 5 when the feed began: 6 is next
  g.OnFeed("a", M(8), &out);
  ExpectSeqs(out, {});
  assert_int_equal(out.fills.size(), 1);
  assert_int_equal(out.fills[0].after, 5);
  assert_int_equal(out.fills[0].upto, 7);
  // For a followed channel, Start is a head check.
  SequenceGate::Output o2;
  g.OnFill(out.fills[0], Range(6, 7), &o2);
  ExpectSeqs(o2, {6, 7, 8});
  SequenceGate::Output o3;
  g.Start("a", 10, &o3);
  assert_int_equal(o3.fills.size(), 1);
  assert_int_equal(o3.fills[0].after, 8);
}

void test_reset_starts_the_sequence_again(void**) {
  SequenceGate g;
  SequenceGate::Output out;
  g.OnFeed("a", M(1), &out);
  g.OnFeed("a", M(2), &out);
  g.Reset("a");
  g.OnFeed("a", M(1), &out);
  ExpectSeqs(out, {1, 2, 1});
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_order_feed_passes_through),
      cmocka_unit_test(test_repeats_are_dropped),
      cmocka_unit_test(test_hole_is_filled_before_later_messages),
      cmocka_unit_test(test_channels_are_independent),
      cmocka_unit_test(test_trimmed_hole_is_counted_not_silent),
      cmocka_unit_test(test_long_hole_is_fetched_page_by_page),
      cmocka_unit_test(test_failed_fill_is_asked_again),
      cmocka_unit_test(test_head_after_feed_loss_fetches_the_rest),
      cmocka_unit_test(test_start_sets_the_baseline),
      cmocka_unit_test(test_reset_starts_the_sequence_again),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
