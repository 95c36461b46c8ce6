// LatencyHistogram: a fixed-size log-linear histogram of durations.
//
// Values are recorded in nanoseconds and bucketed in microseconds. Below
// kSub microseconds every microsecond has its own bucket; above, each power
// of two is split into kSub/2 linear buckets, so the relative error stays
// under 2/kSub (0.8%) up to kMaxUs (about 68 s). Larger values land in the
// last bucket; the exact maximum is kept apart. One histogram per worker
// thread, merged at the end: recording is a few instructions and no locks.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 256
  static constexpr int kMaxBits = 36;                         // 2^36 us = 68.7 s
  static constexpr uint64_t kMaxUs = (uint64_t{1} << kMaxBits) - 1;
  static constexpr size_t kBuckets = kSub + (kMaxBits - kSubBits) * (kSub / 2);

  void RecordNs(int64_t ns) {
    if (ns < 0) ns = 0;  // clocks are monotonic; a negative value is a bug upstream, count it as 0
    const uint64_t v = static_cast<uint64_t>(ns);
    max_ns_ = std::max(max_ns_, v);
    sum_ns_ += v;
    ++count_;
    ++counts_[Index(std::min<uint64_t>(v / 1000, kMaxUs))];
  }

  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ns_ += other.sum_ns_;
    max_ns_ = std::max(max_ns_, other.max_ns_);
  }

  uint64_t count() const { return count_; }
  double MaxUs() const { return static_cast<double>(max_ns_) / 1000.0; }
  double MeanUs() const { return count_ ? static_cast<double>(sum_ns_) / 1000.0 / static_cast<double>(count_) : 0; }

  // The value (us, bucket midpoint, never above the maximum) below which a
  // fraction q of the recorded values lie; 0 when empty.
  double PercentileUs(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_) + 0.999999);
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const double mid = static_cast<double>(Lower(i)) + static_cast<double>(Width(i) - 1) / 2.0;
        return std::min(mid, MaxUs());
      }
    }
    return MaxUs();
  }

  // Bucket arithmetic, public for the self-test.
  static size_t Index(uint64_t us) {
    if (us < kSub) return static_cast<size_t>(us);
    const int msb = 63 - std::countl_zero(us);   // >= kSubBits
    const int shift = msb - (kSubBits - 1);      // >= 1
    const uint64_t mantissa = us >> shift;       // in [kSub/2, kSub)
    return static_cast<size_t>(kSub + static_cast<uint64_t>(shift - 1) * (kSub / 2) + (mantissa - kSub / 2));
  }
  static uint64_t Lower(size_t index) {
    if (index < kSub) return index;
    const uint64_t rest = index - kSub;
    const int shift = static_cast<int>(rest / (kSub / 2)) + 1;
    const uint64_t mantissa = rest % (kSub / 2) + kSub / 2;
    return mantissa << shift;
  }
  static uint64_t Width(size_t index) {
    if (index < kSub) return 1;
    return uint64_t{1} << (static_cast<int>((index - kSub) / (kSub / 2)) + 1);
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ns_ = 0;
  uint64_t max_ns_ = 0;
};

}  // namespace bench
