#include "chat/cluster_scripts.h"

#include <string>

#include "lua_sources.h"  // generated: kLua_<name> for each cluster/lua/<name>.lua

namespace chat {
namespace {

RedisScript Make(const char* name, const char* body) { return RedisScript(name, std::string(kLua_lib) + body); }

}  // namespace

std::vector<const RedisScript*> ClusterScripts::All() const {
  return {&append, &sync, &watermark, &claim_token, &save_channel, &delete_channel,
          &presence, &heartbeat, &node_start, &presence_snapshot};
}

const ClusterScripts& Scripts() {
  static const ClusterScripts scripts{
      Make("append", kLua_append),
      Make("sync", kLua_sync),
      Make("watermark", kLua_watermark),
      Make("claim_token", kLua_claim_token),
      Make("save_channel", kLua_save_channel),
      Make("delete_channel", kLua_delete_channel),
      Make("presence", kLua_presence),
      Make("heartbeat", kLua_heartbeat),
      Make("node_start", kLua_node_start),
      Make("presence_snapshot", kLua_presence_snapshot),
  };
  return scripts;
}

}  // namespace chat
