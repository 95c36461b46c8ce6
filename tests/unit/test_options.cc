// ParseOptions: the plugin_opt_* settings of spec section 7.
#include <string>
#include <utility>
#include <vector>

#include "chat/options.h"
#include "cmocka_wrap.h"

namespace {

using chat::Options;
using chat::ParseOptions;
using chat::Status;
using KV = std::vector<std::pair<std::string, std::string>>;

Options MustParse(const KV& kv) {
  Options o;
  Status s = ParseOptions(kv, &o);
  if (!s.ok()) fail_msg("ParseOptions failed: %s", s.ToString().c_str());
  return o;
}

// A refusal whose message names plugin_opt_<name>; *out is untouched.
void ExpectRefused(const KV& kv, const std::string& name) {
  Options o;
  o.topic_prefix = "untouched";
  Status s = ParseOptions(kv, &o);
  if (s.ok()) fail_msg("ParseOptions accepted a bad %s", name.c_str());
  assert_int_equal(s.code(), Status::Code::kInvalidArgument);
  if (s.message().find("plugin_opt_" + name) == std::string::npos) {
    fail_msg("message '%s' does not name plugin_opt_%s", s.message().c_str(), name.c_str());
  }
  assert_string_equal(o.topic_prefix.c_str(), "untouched");
}

void ExpectBad(const std::string& name, const std::string& value) { ExpectRefused({{name, value}}, name); }

void test_defaults(void**) {
  Options o = MustParse({});
  assert_int_equal(o.store, chat::StoreKind::kLocal);
  assert_string_equal(o.local_dir.c_str(), ".");
  assert_int_equal(o.local_fsync, chat::FsyncMode::kEverySec);
  assert_string_equal(o.redis_url.c_str(), "redis://127.0.0.1:6379/0");
  assert_true(o.node_id.empty());
  assert_true(o.jwks_file.empty());
  assert_int_equal(o.token_max_lifetime_s, 300);
  assert_int_equal(o.token_leeway_s, 5);
  assert_true(o.token_single_use);
  assert_false(o.auth_fallback);
  assert_int_equal(o.replay_window_s, 120);
  assert_int_equal(o.dedup_window_s, 600);
  assert_int_equal(o.max_body_bytes, 65536);
  assert_int_equal(o.rate_limit_per_s, 0);
  assert_int_equal(o.sync_limit_max, 1000);
  assert_int_equal(o.history_max, 10000);
  assert_int_equal(o.history_max_age_s, 604800);
  assert_int_equal(o.typing_interval_ms, 1000);
  assert_int_equal(o.presence_timeout_s, 30);
  assert_int_equal(o.outbox_max, 100000);
  assert_string_equal(o.topic_prefix.c_str(), "chat");
  assert_int_equal(o.plain_topics, chat::PlainTopics::kAllow);
  assert_int_equal(o.PayloadLimit(), 65536 + 16 * 1024);
  // A default-constructed Options is the same as an empty config.
  Options d;
  assert_int_equal(d.dedup_window_s, o.dedup_window_s);
  assert_int_equal(d.max_body_bytes, o.max_body_bytes);
}

void test_store(void**) {
  assert_int_equal(MustParse({{"store", "memory"}}).store, chat::StoreKind::kMemory);
  assert_int_equal(MustParse({{"store", "local"}}).store, chat::StoreKind::kLocal);
  assert_int_equal(MustParse({{"store", "redis"}}).store, chat::StoreKind::kRedis);
  ExpectBad("store", "Memory");
  ExpectBad("store", "");
  ExpectBad("store", "sqlite");
}

void test_local(void**) {
  assert_string_equal(MustParse({{"local_dir", "/var/lib/chat"}}).local_dir.c_str(), "/var/lib/chat");
  ExpectBad("local_dir", "");
  ExpectBad("local_dir", "   ");
  assert_int_equal(MustParse({{"local_fsync", "always"}}).local_fsync, chat::FsyncMode::kAlways);
  assert_int_equal(MustParse({{"local_fsync", "everysec"}}).local_fsync, chat::FsyncMode::kEverySec);
  ExpectBad("local_fsync", "never");
  ExpectBad("local_fsync", "ALWAYS");
}

void test_redis_url(void**) {
  assert_string_equal(MustParse({{"redis_url", "redis://:pw@h:6380/2"}}).redis_url.c_str(), "redis://:pw@h:6380/2");
  assert_string_equal(MustParse({{"redis_url", "unix:///run/redis.sock"}}).redis_url.c_str(),
                      "unix:///run/redis.sock");
  ExpectBad("redis_url", "http://host");
  ExpectBad("redis_url", "");
  ExpectBad("redis_url", "127.0.0.1:6379");
}

void test_node_id(void**) {
  assert_string_equal(MustParse({{"node_id", "node-1.a_b"}}).node_id.c_str(), "node-1.a_b");
  assert_string_equal(MustParse({{"node_id", std::string(64, 'n')}}).node_id.c_str(), std::string(64, 'n').c_str());
  ExpectBad("node_id", "");
  ExpectBad("node_id", "a/b");
  ExpectBad("node_id", std::string(65, 'n'));
}

void test_jwks_file(void**) {
  assert_string_equal(MustParse({{"jwks_file", "/etc/chat/jwks.json"}}).jwks_file.c_str(), "/etc/chat/jwks.json");
  ExpectBad("jwks_file", "");
}

void test_booleans(void**) {
  for (const char* name : {"token_single_use", "auth_fallback"}) {
    Options t = MustParse({{name, "true"}});
    Options f = MustParse({{name, "false"}});
    if (std::string(name) == "token_single_use") {
      assert_true(t.token_single_use);
      assert_false(f.token_single_use);
    } else {
      assert_true(t.auth_fallback);
      assert_false(f.auth_fallback);
    }
    ExpectBad(name, "yes");
    ExpectBad(name, "1");
    ExpectBad(name, "True");
    ExpectBad(name, "");
  }
}

void test_plain_topics(void**) {
  assert_int_equal(MustParse({{"plain_topics", "allow"}}).plain_topics, chat::PlainTopics::kAllow);
  assert_int_equal(MustParse({{"plain_topics", "defer"}}).plain_topics, chat::PlainTopics::kDefer);
  assert_int_equal(MustParse({{"plain_topics", "deny"}}).plain_topics, chat::PlainTopics::kDeny);
  ExpectBad("plain_topics", "maybe");
}

struct Range {
  const char* name;
  long long min;
  long long max;
};

// Reads back the field that option `name` sets.
long long Field(const Options& o, const std::string& name) {
  if (name == "jwks_check_interval_ms") return o.jwks_check_interval_ms;
  if (name == "token_max_lifetime_s") return o.token_max_lifetime_s;
  if (name == "token_leeway_s") return o.token_leeway_s;
  if (name == "replay_window_s") return o.replay_window_s;
  if (name == "dedup_window_s") return o.dedup_window_s;
  if (name == "max_body_bytes") return static_cast<long long>(o.max_body_bytes);
  if (name == "max_payload_bytes") return static_cast<long long>(o.max_payload_bytes);
  if (name == "rate_limit_per_s") return o.rate_limit_per_s;
  if (name == "sync_limit_max") return o.sync_limit_max;
  if (name == "history_max") return static_cast<long long>(o.history_max);
  if (name == "history_max_age_s") return o.history_max_age_s;
  if (name == "typing_interval_ms") return o.typing_interval_ms;
  if (name == "presence_timeout_s") return o.presence_timeout_s;
  if (name == "outbox_max") return static_cast<long long>(o.outbox_max);
  if (name == "max_channel_doc_bytes") return static_cast<long long>(o.max_channel_doc_bytes);
  fail_msg("no field for %s", name.c_str());
  return 0;
}

// Options that other rules constrain need companions to be valid alone.
KV With(const std::string& name, const std::string& value) {
  KV kv;
  if (name == "replay_window_s") kv.push_back({"dedup_window_s", "2592000"});
  if (name == "dedup_window_s") kv.push_back({"replay_window_s", "1"});
  if (name == "max_payload_bytes") kv.push_back({"max_body_bytes", "1"});
  kv.push_back({name, value});
  return kv;
}

void test_integer_ranges(void**) {
  const Range ranges[] = {
      {"jwks_check_interval_ms", 100, 3600000},
      {"token_max_lifetime_s", 1, 2592000},
      {"token_leeway_s", 0, 600},
      {"replay_window_s", 1, 86400},
      {"dedup_window_s", 2, 2592000},  // 1 is in range but below 2 * replay_window_s (1)
      {"max_body_bytes", 1, 67108864},
      {"max_payload_bytes", 0, 268435456},
      {"rate_limit_per_s", 0, 1000000},
      {"sync_limit_max", 1, 100000},
      {"history_max", 0, 100000000},
      {"history_max_age_s", 0, 315360000},
      {"typing_interval_ms", 0, 3600000},
      {"presence_timeout_s", 1, 86400},
      {"outbox_max", 1, 100000000},
      {"max_channel_doc_bytes", 64, 67108864},
  };
  for (const Range& r : ranges) {
    const std::string name = r.name;
    assert_int_equal(Field(MustParse(With(name, std::to_string(r.min))), name), r.min);
    assert_int_equal(Field(MustParse(With(name, std::to_string(r.max))), name), r.max);
    if (name != "dedup_window_s") ExpectRefused(With(name, std::to_string(r.min - 1)), name);
    ExpectRefused(With(name, std::to_string(r.max + 1)), name);
    ExpectRefused(With(name, ""), name);
    ExpectRefused(With(name, "ten"), name);
    ExpectRefused(With(name, "12abc"), name);
    ExpectRefused(With(name, "1.5"), name);
    ExpectRefused(With(name, "+5"), name);
    ExpectRefused(With(name, "0x10"), name);
    ExpectRefused(With(name, "99999999999999999999999"), name);
    ExpectRefused(With(name, "-1"), name);
  }
}

void test_topic_prefix(void**) {
  assert_string_equal(MustParse({{"topic_prefix", "talk"}}).topic_prefix.c_str(), "talk");
  ExpectBad("topic_prefix", "");
  ExpectBad("topic_prefix", "a/b");
  ExpectBad("topic_prefix", "a+");
  ExpectBad("topic_prefix", "#");
  ExpectBad("topic_prefix", "$chat");
  ExpectBad("topic_prefix", "presence");
  ExpectBad("topic_prefix", std::string(65, 'p'));
  assert_string_equal(MustParse({{"topic_prefix", std::string(64, 'p')}}).topic_prefix.c_str(),
                      std::string(64, 'p').c_str());
}

void test_unknown_option(void**) {
  ExpectRefused({{"no_such_option", "1"}}, "no_such_option");
  ExpectRefused({{"Store", "memory"}}, "Store");
  ExpectRefused({{"store", "memory"}, {"replay_window", "5"}}, "replay_window");
}

void test_dedup_at_least_twice_replay(void**) {
  Options o = MustParse({{"replay_window_s", "100"}, {"dedup_window_s", "200"}});
  assert_int_equal(o.replay_window_s, 100);
  assert_int_equal(o.dedup_window_s, 200);
  ExpectRefused({{"replay_window_s", "100"}, {"dedup_window_s", "199"}}, "dedup_window_s");
  // Checked after every option, whatever the order.
  ExpectRefused({{"dedup_window_s", "199"}, {"replay_window_s", "100"}}, "dedup_window_s");
  // Against the defaults: replay 120 needs dedup >= 240.
  ExpectRefused({{"dedup_window_s", "239"}}, "dedup_window_s");
  assert_int_equal(MustParse({{"dedup_window_s", "240"}}).dedup_window_s, 240);
  ExpectRefused({{"replay_window_s", "301"}}, "dedup_window_s");
  assert_int_equal(MustParse({{"replay_window_s", "300"}}).replay_window_s, 300);
}

void test_payload_limit(void**) {
  ExpectRefused({{"max_body_bytes", "1000"}, {"max_payload_bytes", "999"}}, "max_payload_bytes");
  Options o = MustParse({{"max_body_bytes", "1000"}, {"max_payload_bytes", "1000"}});
  assert_int_equal(o.PayloadLimit(), 1000);
  o = MustParse({{"max_body_bytes", "1000"}});
  assert_int_equal(o.PayloadLimit(), 1000 + 16384);
}

void test_later_value_wins(void**) {
  Options o = MustParse({{"history_max", "5"}, {"history_max", "7"}});
  assert_int_equal(o.history_max, 7);
}

void test_whitespace_trimmed(void**) {
  Options o = MustParse({{"store", "  redis\t"}, {"history_max", "\t 42 \r"}, {"auth_fallback", " true "},
                         {"topic_prefix", " talk "}, {"jwks_file", " /x/j.json "}});
  assert_int_equal(o.store, chat::StoreKind::kRedis);
  assert_int_equal(o.history_max, 42);
  assert_true(o.auth_fallback);
  assert_string_equal(o.topic_prefix.c_str(), "talk");
  assert_string_equal(o.jwks_file.c_str(), "/x/j.json");
  // Whitespace inside a value is not trimmed away.
  ExpectBad("history_max", "4 2");
}

void test_refusal_leaves_output_untouched(void**) {
  Options o;
  o.history_max = 3;
  Status s = ParseOptions({{"history_max", "9"}, {"store", "bad"}}, &o);
  assert_false(s.ok());
  assert_int_equal(o.history_max, 3);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_store),
      cmocka_unit_test(test_local),
      cmocka_unit_test(test_redis_url),
      cmocka_unit_test(test_node_id),
      cmocka_unit_test(test_jwks_file),
      cmocka_unit_test(test_booleans),
      cmocka_unit_test(test_plain_topics),
      cmocka_unit_test(test_integer_ranges),
      cmocka_unit_test(test_topic_prefix),
      cmocka_unit_test(test_unknown_option),
      cmocka_unit_test(test_dedup_at_least_twice_replay),
      cmocka_unit_test(test_payload_limit),
      cmocka_unit_test(test_later_value_wins),
      cmocka_unit_test(test_whitespace_trimmed),
      cmocka_unit_test(test_refusal_leaves_output_untouched),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
