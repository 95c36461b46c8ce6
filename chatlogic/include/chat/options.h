// Options: every plugin_opt_* setting of spec section 7, with its default.
// ParseOptions rejects an unknown name or a bad value with a Status whose
// message names the option, so the broker can refuse to start.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/status.h"

namespace chat {

enum class StoreKind { kMemory, kLocal, kRedis };
enum class FsyncMode { kAlways, kEverySec };
// What the plugin answers for topics outside its namespaces (chat/, presence/, $chat/).
enum class PlainTopics { kAllow, kDefer, kDeny };

struct Options {
  StoreKind store = StoreKind::kLocal;
  std::string local_dir = ".";
  FsyncMode local_fsync = FsyncMode::kEverySec;
  std::string redis_url = "redis://127.0.0.1:6379/0";
  std::string node_id;  // empty: the host name
  std::string jwks_file;  // empty: every token is refused
  int64_t jwks_check_interval_ms = 2000;
  int64_t token_max_lifetime_s = 300;
  int64_t token_leeway_s = 5;
  bool token_single_use = true;
  bool auth_fallback = false;
  PlainTopics plain_topics = PlainTopics::kAllow;
  int64_t replay_window_s = 120;
  int64_t dedup_window_s = 600;
  uint64_t max_body_bytes = 65536;
  uint64_t max_payload_bytes = 0;  // 0: max_body_bytes + 16 KiB
  uint32_t rate_limit_per_s = 0;   // 0: off
  uint32_t sync_limit_max = 1000;
  uint64_t history_max = 10000;
  int64_t history_max_age_s = 604800;
  int64_t typing_interval_ms = 1000;
  int64_t presence_timeout_s = 30;
  uint64_t outbox_max = 100000;
  int64_t sys_interval_s = 10;  // $SYS/broker/chat/... every this many seconds; 0: off
  std::string topic_prefix = "chat";
  uint64_t max_channel_doc_bytes = 1 << 20;

  // The effective whole-payload cap for chat publishes.
  uint64_t PayloadLimit() const {
    return max_payload_bytes ? max_payload_bytes : max_body_bytes + 16 * 1024;
  }
};

// Parses (name, value) pairs in config order; later values win.
// Cross-option rules (dedup_window_s >= 2 * replay_window_s) are checked last.
Status ParseOptions(const std::vector<std::pair<std::string, std::string>>& kv, Options* out);

}  // namespace chat
