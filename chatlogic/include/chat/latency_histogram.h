// LatencyHistogram: durations in microseconds in power-of-two buckets, for
// percentiles in statistics. A percentile is reported as the upper bound of
// its bucket (at most 2x the true value). O(1) per sample, no allocation.
#pragma once

#include <array>
#include <cstdint>

namespace chat {

class LatencyHistogram {
 public:
  void Record(uint64_t micros);
  // The smallest bucket bound below which at least `fraction` (0..1] of the
  // samples fall; 0 when there are none.
  uint64_t Percentile(double fraction) const;
  uint64_t count() const { return count_; }
  void Reset();

 private:
  static constexpr int kBuckets = 40;  // bucket i: [2^(i-1), 2^i) us; bucket 0: 0
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
};

}  // namespace chat
