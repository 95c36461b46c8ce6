#include "chat/presence_tracker.h"

namespace chat {

Presence PresenceTracker::Connected(std::string_view user, int64_t now_ms) {
  auto it = users_.find(user);
  if (it == users_.end()) it = users_.emplace(std::string(user), Entry{0, static_cast<uint64_t>(now_ms)}).first;
  ++it->second.devices;
  return Presence{std::string(user), true, it->second.devices, it->second.since};
}

Presence PresenceTracker::Disconnected(std::string_view user, int64_t now_ms) {
  auto it = users_.find(user);
  if (it != users_.end() && it->second.devices > 1) {
    --it->second.devices;
    return Presence{std::string(user), true, it->second.devices, it->second.since};
  }
  if (it != users_.end()) users_.erase(it);
  return Presence{std::string(user), false, 0, static_cast<uint64_t>(now_ms)};
}

uint64_t PresenceTracker::Devices(std::string_view user) const {
  auto it = users_.find(user);
  return it == users_.end() ? 0 : it->second.devices;
}

}  // namespace chat
