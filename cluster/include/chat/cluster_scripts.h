// The cluster's Lua scripts (cluster/lua/), one per atomic operation, each
// with lib.lua prepended. Built into the binary at configure time.
#pragma once

#include <vector>

#include "chat/redis_script.h"

namespace chat {

struct ClusterScripts {
  RedisScript append;
  RedisScript sync;
  RedisScript watermark;
  RedisScript claim_token;
  RedisScript save_channel;
  RedisScript delete_channel;
  RedisScript presence;
  RedisScript heartbeat;
  RedisScript node_start;
  RedisScript presence_snapshot;

  std::vector<const RedisScript*> All() const;
};

const ClusterScripts& Scripts();

}  // namespace chat
