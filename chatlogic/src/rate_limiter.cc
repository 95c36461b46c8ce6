#include "chat/rate_limiter.h"

#include <algorithm>

namespace chat {

bool RateLimiter::Allow(std::string_view key, int64_t now_ms) {
  if (rate_ == 0) return true;
  auto it = buckets_.find(key);
  if (it == buckets_.end()) it = buckets_.emplace(std::string(key), Bucket{Burst(), now_ms}).first;
  Bucket& b = it->second;
  if (now_ms > b.last_ms) {
    b.tokens = std::min(Burst(), b.tokens + static_cast<double>(now_ms - b.last_ms) * rate_ / 1000.0);
    b.last_ms = now_ms;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void RateLimiter::Sweep(int64_t now_ms) {
  if (rate_ == 0) return;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    double refilled = it->second.tokens + static_cast<double>(now_ms - it->second.last_ms) * rate_ / 1000.0;
    it = refilled >= Burst() ? buckets_.erase(it) : std::next(it);
  }
}

}  // namespace chat
