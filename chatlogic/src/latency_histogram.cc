#include "chat/latency_histogram.h"

#include <bit>

namespace chat {

void LatencyHistogram::Record(uint64_t micros) {
  int bucket = micros == 0 ? 0 : static_cast<int>(std::bit_width(micros));
  if (bucket >= kBuckets) bucket = kBuckets - 1;
  ++buckets_[bucket];
  ++count_;
}

uint64_t LatencyHistogram::Percentile(double fraction) const {
  if (count_ == 0) return 0;
  const double wanted = fraction * static_cast<double>(count_);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (static_cast<double>(seen) >= wanted && seen > 0) return i == 0 ? 0 : (uint64_t{1} << i) - 1;
  }
  return (uint64_t{1} << (kBuckets - 1)) - 1;
}

void LatencyHistogram::Reset() {
  buckets_.fill(0);
  count_ = 0;
}

}  // namespace chat
