// PresenceTracker: how many connected devices (clients) each user has on
// this node, and the presence document to publish when that changes.
// A user is online while at least one device is connected.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "chat/feature_codec.h"
#include "chat/string_hash.h"

namespace chat {

class PresenceTracker {
 public:
  // A device of `user` connected / disconnected. Returns the new presence
  // (devices and status; `since` moves only when the status changes).
  Presence Connected(std::string_view user, int64_t now_ms);
  Presence Disconnected(std::string_view user, int64_t now_ms);

  uint64_t Devices(std::string_view user) const;
  size_t online_users() const { return users_.size(); }

 private:
  struct Entry {
    uint64_t devices = 0;
    uint64_t since = 0;
  };
  StringMap<Entry> users_;  // online users only
};

}  // namespace chat
