// LatencyHistogram: percentiles as power-of-two bucket bounds.
#include "chat/latency_histogram.h"
#include "cmocka_wrap.h"

namespace {

using chat::LatencyHistogram;

void test_empty_is_zero(void**) {
  LatencyHistogram h;
  assert_int_equal(h.Percentile(0.5), 0);
  assert_int_equal(h.count(), 0);
}

void test_percentiles_bound_the_samples(void**) {
  LatencyHistogram h;
  for (int i = 0; i < 90; ++i) h.Record(100);   // bucket [64, 128)
  for (int i = 0; i < 10; ++i) h.Record(5000);  // bucket [4096, 8192)
  assert_int_equal(h.count(), 100);
  assert_int_equal(h.Percentile(0.5), 127);
  assert_int_equal(h.Percentile(0.9), 127);
  assert_int_equal(h.Percentile(0.99), 8191);
  assert_int_equal(h.Percentile(1.0), 8191);
  h.Record(0);
  assert_int_equal(h.Percentile(0.001), 0);
}

void test_huge_values_and_reset(void**) {
  LatencyHistogram h;
  h.Record(UINT64_MAX);
  assert_true(h.Percentile(1.0) > (uint64_t{1} << 38));
  h.Reset();
  assert_int_equal(h.count(), 0);
  assert_int_equal(h.Percentile(0.99), 0);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_is_zero),
      cmocka_unit_test(test_percentiles_bound_the_samples),
      cmocka_unit_test(test_huge_values_and_reset),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
