#include "chat/typing_throttle.h"

#include <string>

namespace chat {

bool TypingThrottle::Allow(std::string_view channel, std::string_view user, int64_t now_ms) {
  if (interval_ms_ <= 0) return true;
  std::string key;
  key.reserve(channel.size() + user.size() + 1);
  key.append(channel).append("/").append(user);  // ids never contain '/'
  auto it = last_.find(key);
  if (it != last_.end() && now_ms - it->second < interval_ms_) return false;
  last_.insert_or_assign(std::move(key), now_ms);
  return true;
}

void TypingThrottle::Sweep(int64_t now_ms) {
  for (auto it = last_.begin(); it != last_.end();) {
    it = now_ms - it->second >= interval_ms_ ? last_.erase(it) : std::next(it);
  }
}

}  // namespace chat
