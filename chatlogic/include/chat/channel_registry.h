// ChannelRegistry: the in-memory index of channel configurations that every
// ACL check reads. Lookups are O(1) and allocate nothing.
#pragma once

#include <string_view>
#include <vector>

#include "chat/channel_config.h"
#include "chat/string_hash.h"

namespace chat {

struct Channel {
  ChannelConfig config;
  StringSet members;
};

class ChannelRegistry {
 public:
  // Creates or replaces the channel config.id.
  void Put(const ChannelConfig& config);
  // False when there was no such channel.
  bool Remove(std::string_view id);

  const Channel* Find(std::string_view id) const;
  // True when the channel exists and `user` may use it: any user for an
  // open channel, listed members otherwise.
  bool MayAccess(std::string_view channel, std::string_view user) const;
  // The same rule for a channel already looked up (null: no such channel).
  static bool MayAccess(const Channel* channel, std::string_view user);

  // Changes whenever a channel is put or removed: a Channel* obtained under
  // another generation must not be used.
  uint64_t generation() const { return generation_; }

  size_t size() const { return channels_.size(); }
  // All channels, sorted by id.
  std::vector<const Channel*> List() const;

 private:
  StringMap<Channel> channels_;
  uint64_t generation_ = 0;
};

}  // namespace chat
