// ClusterListener: what a clustered store (see Store::clustered) reports to
// the chat service. Every call comes from Store::PollCompletions, on the
// broker thread.
#pragma once

#include <string>
#include <string_view>

#include "chat/channel_config.h"
#include "chat/feature_codec.h"
#include "chat/log_level.h"
#include "chat/store.h"

namespace chat {

class ClusterListener {
 public:
  virtual ~ClusterListener() = default;
  // A sequenced message of `channel`, accepted on any node: called in seq
  // order with no gap and no repeat (a hole is filled from history first).
  virtual void OnClusterMessage(std::string_view channel, const StoredMessage& m) = 0;
  // A channel document was saved (config set) or the channel deleted
  // (config null) on some node, this one included. The store has already
  // updated its own copy.
  virtual void OnClusterChannel(std::string_view id, const ChannelConfig* config) = 0;
  // A receipt or typing broadcast from another node (kind: the topic's last
  // level), to deliver to this node's subscribers.
  virtual void OnClusterEvent(std::string_view channel, std::string_view kind, std::string_view payload) = 0;
  // The cluster-wide presence of a user, to publish (retained) on this node.
  virtual void OnClusterPresence(const Presence& p) = 0;
  // A token id accepted on this node had been used first on another node:
  // the connection that used it here must go.
  virtual void OnTokenConflict(std::string_view jti) = 0;
  // A line for the broker's log; the store's own threads cannot log.
  virtual void OnStoreLog(LogLevel level, const std::string& line) = 0;
};

}  // namespace chat
