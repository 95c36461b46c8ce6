// FanoutCounter: deliveries per (channel, seq), recognising a message by its
// payload bytes and decoding its seq once.
#include <string>

#include "chat/fanout_counter.h"
#include "chat/message_codec.h"
#include "cmocka_wrap.h"

namespace {

using chat::FanoutCounter;

std::string Delivery(uint64_t seq, const char* ch = "room") {
  chat::MessageFields none;
  return chat::EncodeDelivery(none, chat::Stamp{seq, "alice", 1700000000000, ch});
}

void test_counts_each_message(void**) {
  FanoutCounter f;
  const std::string one = Delivery(1), two = Delivery(2);
  for (int i = 0; i < 3; ++i) f.CountDelivery("room", one);
  f.CountDelivery("room", two);
  assert_int_equal(f.Count("room", 1), 3);
  assert_int_equal(f.Count("room", 2), 1);
  assert_int_equal(f.Count("room", 3), 0);
  assert_int_equal(f.Count("other", 1), 0);
  // A message seen again later (a queued delivery at reconnect) still counts.
  f.CountDelivery("room", one);
  assert_int_equal(f.Count("room", 1), 4);
}

void test_same_seq_other_channel(void**) {
  FanoutCounter f;
  f.CountDelivery("a", Delivery(1, "a"));
  f.CountDelivery("b", Delivery(1, "b"));
  assert_int_equal(f.Count("a", 1), 1);
  assert_int_equal(f.Count("b", 1), 1);
}

void test_garbage_is_ignored(void**) {
  FanoutCounter f;
  f.CountDelivery("room", "not msgpack \xc1");
  f.CountDelivery("room", "");
  assert_int_equal(f.Count("room", 0), 0);
}

void test_keeps_the_most_recent(void**) {
  FanoutCounter f(2);
  f.CountDelivery("room", Delivery(1));
  f.CountDelivery("room", Delivery(2));
  f.CountDelivery("room", Delivery(3));
  assert_int_equal(f.Count("room", 1), 0);
  assert_int_equal(f.Count("room", 2), 1);
  assert_int_equal(f.Count("room", 3), 1);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counts_each_message),
      cmocka_unit_test(test_same_seq_other_channel),
      cmocka_unit_test(test_garbage_is_ignored),
      cmocka_unit_test(test_keeps_the_most_recent),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
