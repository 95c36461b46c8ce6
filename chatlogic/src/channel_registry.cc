#include "chat/channel_registry.h"

#include <algorithm>

namespace chat {

void ChannelRegistry::Put(const ChannelConfig& config) {
  Channel ch;
  ch.config = config;
  ch.members.reserve(config.members.size());
  for (const auto& m : config.members) ch.members.insert(m);
  channels_.insert_or_assign(config.id, std::move(ch));
  ++generation_;
}

bool ChannelRegistry::Remove(std::string_view id) {
  auto it = channels_.find(id);
  if (it == channels_.end()) return false;
  channels_.erase(it);
  ++generation_;
  return true;
}

const Channel* ChannelRegistry::Find(std::string_view id) const {
  auto it = channels_.find(id);
  return it == channels_.end() ? nullptr : &it->second;
}

bool ChannelRegistry::MayAccess(std::string_view channel, std::string_view user) const {
  return MayAccess(Find(channel), user);
}

bool ChannelRegistry::MayAccess(const Channel* ch, std::string_view user) {
  if (ch == nullptr) return false;
  if (ch->config.type == ChannelType::kOpen) return true;
  return ch->members.find(user) != ch->members.end();
}

std::vector<const Channel*> ChannelRegistry::List() const {
  std::vector<const Channel*> out;
  out.reserve(channels_.size());
  for (const auto& [id, ch] : channels_) out.push_back(&ch);
  std::sort(out.begin(), out.end(), [](const Channel* a, const Channel* b) { return a->config.id < b->config.id; });
  return out;
}

}  // namespace chat
