// TypingThrottle: at most one typing event per user per channel per
// interval; the extra ones are dropped.
#pragma once

#include <cstdint>
#include <string_view>

#include "chat/string_hash.h"

namespace chat {

class TypingThrottle {
 public:
  explicit TypingThrottle(int64_t interval_ms) : interval_ms_(interval_ms) {}

  // True (and the event counted) when `user` may send a typing event in
  // `channel` at now_ms.
  bool Allow(std::string_view channel, std::string_view user, int64_t now_ms);
  // Forgets pairs whose interval has passed, bounding memory.
  void Sweep(int64_t now_ms);

 private:
  int64_t interval_ms_;
  StringMap<int64_t> last_;  // "<channel>/<user>" -> time of the last event let through
};

}  // namespace chat
