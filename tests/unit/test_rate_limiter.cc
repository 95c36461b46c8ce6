// RateLimiter: a token bucket per user, `rate` per second, bursts of 2 * rate.
#include <string>

#include "chat/rate_limiter.h"
#include "cmocka_wrap.h"

namespace {

using chat::RateLimiter;

constexpr int64_t kT0 = 1700000000000;

// How many Allow calls succeed in a row at now_ms (stops at the first refusal).
int Drain(RateLimiter* rl, const std::string& key, int64_t now_ms, int cap = 100000) {
  int n = 0;
  while (n < cap && rl->Allow(key, now_ms)) ++n;
  return n;
}

void test_burst_then_refusal(void**) {
  for (uint32_t rate : {1u, 4u, 5u, 50u}) {
    RateLimiter rl(rate);
    for (uint32_t i = 0; i < 2 * rate; ++i) assert_true(rl.Allow("alice", kT0));
    assert_false(rl.Allow("alice", kT0));
    assert_false(rl.Allow("alice", kT0));
  }
}

void test_keys_are_independent(void**) {
  RateLimiter rl(2);
  assert_int_equal(Drain(&rl, "alice", kT0), 4);
  assert_int_equal(Drain(&rl, "bob", kT0), 4);
  assert_false(rl.Allow("alice", kT0));
  assert_int_equal(Drain(&rl, "carol", kT0), 4);
}

void test_refill(void**) {
  RateLimiter rl(4);  // one token every 250 ms
  assert_int_equal(Drain(&rl, "a", kT0), 8);
  assert_int_equal(Drain(&rl, "b", kT0), 8);
  // Not a whole token yet.
  assert_false(rl.Allow("b", kT0 + 249));
  // Exactly one token after 250 ms.
  assert_true(rl.Allow("a", kT0 + 250));
  assert_false(rl.Allow("a", kT0 + 250));
  // Two more after another 500 ms.
  assert_int_equal(Drain(&rl, "a", kT0 + 750), 2);
  // Refill never exceeds the burst.
  assert_int_equal(Drain(&rl, "a", kT0 + 3600 * 1000), 8);
  // Fractions accumulate: 125 ms then another 125 ms make a token.
  RateLimiter r2(4);
  assert_int_equal(Drain(&r2, "c", kT0), 8);
  assert_false(r2.Allow("c", kT0 + 125));
  assert_true(r2.Allow("c", kT0 + 250));
}

void test_steady_rate(void**) {
  RateLimiter rl(10);
  assert_int_equal(Drain(&rl, "a", kT0), 20);
  // Over 10 s at one attempt per 10 ms, about rate * 10 s get through.
  int allowed = 0;
  for (int64_t t = kT0 + 10; t <= kT0 + 10000; t += 10) allowed += rl.Allow("a", t) ? 1 : 0;
  assert_in_range(allowed, 99, 101);
}

void test_clock_going_back(void**) {
  RateLimiter rl(4);
  assert_int_equal(Drain(&rl, "a", kT0 + 1000), 8);
  // An earlier time gives no tokens (and does not break the bucket).
  assert_false(rl.Allow("a", kT0));
  assert_true(rl.Allow("a", kT0 + 1250));
  assert_false(rl.Allow("a", kT0 + 1250));
}

void test_rate_zero_is_unlimited(void**) {
  RateLimiter rl(0);
  for (int i = 0; i < 100000; ++i) assert_true(rl.Allow("a", kT0));
  rl.Sweep(kT0);
  assert_true(rl.Allow("a", kT0));
}

void test_sweep_keeps_buckets_not_full(void**) {
  RateLimiter rl(4);
  assert_int_equal(Drain(&rl, "a", kT0), 8);
  // 1999 ms later the bucket holds 7.996 tokens: not full, so not dropped.
  rl.Sweep(kT0 + 1999);
  assert_int_equal(Drain(&rl, "a", kT0 + 1999), 7);
  // A freshly drained bucket survives a sweep at the same instant.
  RateLimiter r2(4);
  assert_int_equal(Drain(&r2, "b", kT0), 8);
  r2.Sweep(kT0);
  assert_false(r2.Allow("b", kT0));
}

void test_sweep_drops_idle_buckets(void**) {
  // A dropped bucket is forgotten: the key starts again with a full burst.
  // That is only observable when the next call is stamped before the sweep,
  // which is what this test does: a kept bucket (last use at kT0 + 1000)
  // would give nothing at kT0 + 1000, a dropped one gives the full burst.
  RateLimiter rl(4);
  assert_int_equal(Drain(&rl, "a", kT0 + 1000), 8);
  rl.Sweep(kT0 + 3000);  // full again exactly now (8 tokens * 250 ms)
  assert_int_equal(Drain(&rl, "a", kT0 + 1000), 8);

  // The same without the sweep: the bucket is kept, nothing at kT0 + 1000.
  RateLimiter kept(4);
  assert_int_equal(Drain(&kept, "a", kT0 + 1000), 8);
  assert_int_equal(Drain(&kept, "a", kT0 + 1000), 0);

  // One ms earlier the bucket is not full and survives the sweep.
  RateLimiter early(4);
  assert_int_equal(Drain(&early, "a", kT0 + 1000), 8);
  early.Sweep(kT0 + 2999);
  assert_int_equal(Drain(&early, "a", kT0 + 1000), 0);

  // The sweep drops only the idle keys.
  RateLimiter mixed(4);
  assert_int_equal(Drain(&mixed, "idle", kT0), 8);
  assert_int_equal(Drain(&mixed, "busy", kT0 + 2500), 8);
  mixed.Sweep(kT0 + 2500);
  assert_int_equal(Drain(&mixed, "idle", kT0), 8);
  assert_int_equal(Drain(&mixed, "busy", kT0 + 2500), 0);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_then_refusal),
      cmocka_unit_test(test_keys_are_independent),
      cmocka_unit_test(test_refill),
      cmocka_unit_test(test_steady_rate),
      cmocka_unit_test(test_clock_going_back),
      cmocka_unit_test(test_rate_zero_is_unlimited),
      cmocka_unit_test(test_sweep_keeps_buckets_not_full),
      cmocka_unit_test(test_sweep_drops_idle_buckets),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
