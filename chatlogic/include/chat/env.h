// Env: the seam for time and randomness, so tests can move the clock.
#pragma once

#include <cstddef>
#include <cstdint>

namespace chat {

class Env {
 public:
  virtual ~Env() = default;
  // Wall-clock time, milliseconds since the Unix epoch.
  virtual int64_t NowMs() = 0;
  // Fills buf with cryptographically strong random bytes.
  virtual void RandomBytes(void* buf, size_t len) = 0;

  // The process-wide real environment (system clock, OpenSSL RAND_bytes).
  static Env* Default();
};

// An Env whose clock only moves when told to. Randomness is a counter,
// so runs are repeatable.
class FakeEnv : public Env {
 public:
  explicit FakeEnv(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMs() override { return now_ms_; }
  void RandomBytes(void* buf, size_t len) override;
  void SetNowMs(int64_t now_ms) { now_ms_ = now_ms; }
  void AdvanceMs(int64_t delta_ms) { now_ms_ += delta_ms; }

 private:
  int64_t now_ms_;
  uint64_t counter_ = 0;
};

}  // namespace chat
