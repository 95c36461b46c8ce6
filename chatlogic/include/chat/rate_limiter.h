// RateLimiter: a token bucket per key (user): `rate` events per second with
// bursts of twice that. rate 0 disables limiting.
#pragma once

#include <cstdint>
#include <string_view>

#include "chat/string_hash.h"

namespace chat {

class RateLimiter {
 public:
  explicit RateLimiter(uint32_t rate_per_s) : rate_(rate_per_s) {}

  // True (and one token taken) when `key` may act at now_ms.
  bool Allow(std::string_view key, int64_t now_ms);
  // Drops buckets that are full again (idle keys), bounding memory.
  void Sweep(int64_t now_ms);

 private:
  struct Bucket {
    double tokens;
    int64_t last_ms;
  };
  double Burst() const { return 2.0 * rate_; }

  uint32_t rate_;
  StringMap<Bucket> buckets_;
};

}  // namespace chat
