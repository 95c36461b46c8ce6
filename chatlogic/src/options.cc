#include "chat/options.h"

#include <charconv>
#include <functional>
#include <limits>
#include <map>

#include "chat/ids.h"

namespace chat {
namespace {

using Setter = std::function<bool(std::string_view value, Options* o)>;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

template <typename T>
Setter Integer(T Options::*field, T min, T max) {
  return [=](std::string_view v, Options* o) {
    T parsed{};
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
    if (ec != std::errc() || end != v.data() + v.size() || parsed < min || parsed > max) return false;
    o->*field = parsed;
    return true;
  };
}

Setter Boolean(bool Options::*field) {
  return [=](std::string_view v, Options* o) {
    if (v == "true") o->*field = true;
    else if (v == "false") o->*field = false;
    else return false;
    return true;
  };
}

Setter Text(std::string Options::*field, bool allow_empty) {
  return [=](std::string_view v, Options* o) {
    if (v.empty() && !allow_empty) return false;
    o->*field = std::string(v);
    return true;
  };
}

template <typename E>
Setter Choice(E Options::*field, std::map<std::string_view, E> choices) {
  return [=](std::string_view v, Options* o) {
    auto it = choices.find(v);
    if (it == choices.end()) return false;
    o->*field = it->second;
    return true;
  };
}

struct Rule {
  Setter set;
  const char* expected;
};

const std::map<std::string_view, Rule>& Rules() {
  constexpr int64_t kDay = 86400;
  static const std::map<std::string_view, Rule> rules = {
      {"store", {Choice(&Options::store, std::map<std::string_view, StoreKind>{
                            {"memory", StoreKind::kMemory}, {"local", StoreKind::kLocal},
                            {"redis", StoreKind::kRedis}}),
                 "one of memory, local, redis"}},
      {"local_dir", {Text(&Options::local_dir, false), "a directory path"}},
      {"local_fsync", {Choice(&Options::local_fsync, std::map<std::string_view, FsyncMode>{
                                  {"always", FsyncMode::kAlways}, {"everysec", FsyncMode::kEverySec}}),
                       "always or everysec"}},
      {"redis_url", {[](std::string_view v, Options* o) {
                       if (!(v.starts_with("redis://") || v.starts_with("unix://"))) return false;
                       o->redis_url = std::string(v);
                       return true;
                     },
                     "redis://[:password@]host:port/db or unix:///path"}},
      {"node_id", {[](std::string_view v, Options* o) {
                     if (!IsValidId(v)) return false;
                     o->node_id = std::string(v);
                     return true;
                   },
                   "1 to 64 characters from [A-Za-z0-9_.-]"}},
      {"jwks_file", {Text(&Options::jwks_file, false), "a file path"}},
      {"jwks_check_interval_ms", {Integer<int64_t>(&Options::jwks_check_interval_ms, 100, 3600 * 1000), "100 to 3600000"}},
      {"token_max_lifetime_s", {Integer<int64_t>(&Options::token_max_lifetime_s, 1, 30 * kDay), "1 to 2592000"}},
      {"token_leeway_s", {Integer<int64_t>(&Options::token_leeway_s, 0, 600), "0 to 600"}},
      {"token_single_use", {Boolean(&Options::token_single_use), "true or false"}},
      {"auth_fallback", {Boolean(&Options::auth_fallback), "true or false"}},
      {"plain_topics", {Choice(&Options::plain_topics, std::map<std::string_view, PlainTopics>{
                                   {"allow", PlainTopics::kAllow}, {"defer", PlainTopics::kDefer},
                                   {"deny", PlainTopics::kDeny}}),
                        "allow, defer or deny"}},
      {"replay_window_s", {Integer<int64_t>(&Options::replay_window_s, 1, kDay), "1 to 86400"}},
      {"dedup_window_s", {Integer<int64_t>(&Options::dedup_window_s, 1, 30 * kDay), "1 to 2592000"}},
      {"max_body_bytes", {Integer<uint64_t>(&Options::max_body_bytes, 1, 64u << 20), "1 to 67108864"}},
      {"max_payload_bytes", {Integer<uint64_t>(&Options::max_payload_bytes, 0, 256u << 20), "0 to 268435456"}},
      {"rate_limit_per_s", {Integer<uint32_t>(&Options::rate_limit_per_s, 0, 1000000), "0 to 1000000"}},
      {"sync_limit_max", {Integer<uint32_t>(&Options::sync_limit_max, 1, 100000), "1 to 100000"}},
      {"history_max", {Integer<uint64_t>(&Options::history_max, 0, 100000000), "0 to 100000000"}},
      {"history_max_age_s", {Integer<int64_t>(&Options::history_max_age_s, 0, 3650 * kDay), "0 to 315360000"}},
      {"typing_interval_ms", {Integer<int64_t>(&Options::typing_interval_ms, 0, 3600 * 1000), "0 to 3600000"}},
      {"presence_timeout_s", {Integer<int64_t>(&Options::presence_timeout_s, 1, kDay), "1 to 86400"}},
      {"outbox_max", {Integer<uint64_t>(&Options::outbox_max, 1, 100000000), "1 to 100000000"}},
      {"sys_interval_s", {Integer<int64_t>(&Options::sys_interval_s, 0, kDay), "0 to 86400"}},
      {"topic_prefix", {[](std::string_view v, Options* o) {
                          // One topic level, no wildcards, not a $ topic.
                          if (v.empty() || v.size() > 64 || v.front() == '$') return false;
                          for (char c : v) {
                            if (c == '/' || c == '+' || c == '#' || static_cast<unsigned char>(c) < 0x20) return false;
                          }
                          if (v == "presence") return false;
                          o->topic_prefix = std::string(v);
                          return true;
                        },
                        "one topic level without '/', '+', '#', not starting with '$', not 'presence'"}},
      {"max_channel_doc_bytes", {Integer<uint64_t>(&Options::max_channel_doc_bytes, 64, 64u << 20), "64 to 67108864"}},
  };
  return rules;
}

}  // namespace

Status ParseOptions(const std::vector<std::pair<std::string, std::string>>& kv, Options* out) {
  Options o;
  for (const auto& [name, raw] : kv) {
    auto it = Rules().find(name);
    if (it == Rules().end()) {
      return Status::InvalidArgument("unknown option plugin_opt_" + name);
    }
    std::string_view value = Trim(raw);
    if (!it->second.set(value, &o)) {
      return Status::InvalidArgument("bad value '" + std::string(value) + "' for plugin_opt_" + name +
                                     ": expected " + it->second.expected);
    }
  }
  if (o.dedup_window_s < 2 * o.replay_window_s) {
    return Status::InvalidArgument(
        "plugin_opt_dedup_window_s must be at least twice plugin_opt_replay_window_s (" +
        std::to_string(o.dedup_window_s) + " < 2 * " + std::to_string(o.replay_window_s) + ")");
  }
  if (o.max_payload_bytes != 0 && o.max_payload_bytes < o.max_body_bytes) {
    return Status::InvalidArgument("plugin_opt_max_payload_bytes must be 0 or at least plugin_opt_max_body_bytes");
  }
  *out = std::move(o);
  return Status::Ok();
}

}  // namespace chat
