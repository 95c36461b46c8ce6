// ChatService driven directly: a fake broker, a moved clock, a MemoryStore
// and HS256 tokens minted for each test.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "chat/base64url.h"
#include "chat/chat_service.h"
#include "chat/immediate_store.h"
#include "chat/env.h"
#include "chat/memory_store.h"
#include "chat/token_minter.h"
#include "cmocka_wrap.h"

namespace {

using chat::Access;
using chat::AclVerdict;
using chat::AuthVerdict;
using chat::ChatService;
using chat::ClientKey;
using chat::Outgoing;
using chat::PublishDecision;
using chat::PublishVerdict;
using nlohmann::json;
using Packer = msgpack::packer<msgpack::sbuffer>;

constexpr int64_t kT0 = 1700000000000;  // a whole second
constexpr int64_t kT0s = kT0 / 1000;
const std::string kSecret1 = "0123456789abcdef0123456789abcdef";
const std::string kSecret2 = "fedcba9876543210fedcba9876543210";

std::string Jwks(const std::string& kid, const std::string& secret) {
  json doc = {{"keys", json::array({{{"kty", "oct"}, {"kid", kid}, {"alg", "HS256"},
                                     {"k", chat::Base64UrlEncode(secret)}}})}};
  return doc.dump();
}

class FakeBroker : public chat::BrokerPort {
 public:
  void Publish(Outgoing message) override { published.push_back(std::move(message)); }
  void Log(chat::LogLevel, const std::string& line) override { logs.push_back(line); }
  void Kick(const std::string& client_id) override { kicked.push_back(client_id); }

  // Published messages on `topic`, in order.
  std::vector<Outgoing> On(std::string_view topic) const {
    std::vector<Outgoing> out;
    for (const auto& m : published) {
      if (m.topic == topic) out.push_back(m);
    }
    return out;
  }
  // Everything but presence updates (published on every connect).
  std::vector<Outgoing> NonPresence() const {
    std::vector<Outgoing> out;
    for (const auto& m : published) {
      if (m.topic.rfind("presence/", 0) != 0) out.push_back(m);
    }
    return out;
  }
  void Clear() {
    published.clear();
    logs.clear();
  }

  std::vector<Outgoing> published;
  std::vector<std::string> logs;
  std::vector<std::string> kicked;
};

struct Harness {
  std::string dir;
  std::string jwks_path;
  chat::FakeEnv env{kT0};
  FakeBroker broker;
  chat::Options options;
  chat::Store* store = nullptr;  // owned by service
  std::unique_ptr<ChatService> service;
  int next_jti = 0;

  Harness() {
    char tmpl[] = "/tmp/chat_service_test_XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) fail_msg("mkdtemp");
    dir = tmpl;
    jwks_path = dir + "/jwks.json";
    WriteJwks(Jwks("k1", kSecret1));
    options.jwks_file = jwks_path;
  }
  ~Harness() {
    service.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  void WriteJwks(const std::string& text) {
    // Through a new file and a rename, so the file's identity changes.
    const std::string tmp = jwks_path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << text;
    }
    std::filesystem::rename(tmp, jwks_path);
  }

  // Builds the service over a fresh MemoryStore; `prepare` may fill the
  // store before the service sees it.
  chat::Status Start(const std::function<void(chat::Store*)>& prepare = {}) {
    std::unique_ptr<chat::Store> s;
    chat::StoreSettings settings;
    settings.dedup_window_ms = options.dedup_window_s * 1000;
    settings.env = &env;
    chat::Status st = chat::MemoryStore::Open(settings, "", &s);
    if (!st.ok()) return st;
    if (prepare) prepare(s.get());
    store = s.get();
    service = std::make_unique<ChatService>(options, &env, &broker, std::move(s));
    return service->Start();
  }
  void MustStart(const std::function<void(chat::Store*)>& prepare = {}) {
    chat::Status st = Start(prepare);
    if (!st.ok()) fail_msg("Start: %s", st.ToString().c_str());
  }

  std::string Token(const std::string& sub, bool admin = false, const std::string& kid = "k1",
                    const std::string& secret = kSecret1, int64_t lifetime_s = 300, std::string jti = {}) {
    if (jti.empty()) jti = "jti-" + std::to_string(++next_jti);
    const int64_t now_s = env.NowMs() / 1000;
    json claims = {{"sub", sub}, {"jti", jti}, {"iat", now_s}, {"exp", now_s + lifetime_s}};
    if (admin) claims["role"] = "admin";
    std::string token;
    chat::Status st = chat::MintToken(Jwks(kid, secret), kid, claims.dump(), &token);
    if (!st.ok()) fail_msg("MintToken: %s", st.ToString().c_str());
    return token;
  }

  chat::AuthDecision Auth(ClientKey key, const std::string& client_id, const char* username,
                          const std::string& password) {
    return service->OnBasicAuth(key, client_id, username, password.c_str());
  }

  // Connects `user` as client "<user>-<key>".
  void Connect(ClientKey key, const std::string& user, bool admin = false) {
    chat::AuthDecision d = Auth(key, ClientId(user, key), user.c_str(), Token(user, admin));
    if (d.verdict != AuthVerdict::kAccept) fail_msg("connect of %s refused", user.c_str());
    assert_string_equal(d.username.c_str(), user.c_str());
  }
  static std::string ClientId(const std::string& user, ClientKey key) { return user + "-" + std::to_string(key); }

  PublishDecision Publish(ClientKey key, const std::string& topic, const std::string& payload, int qos = 1,
                          bool retain = false) {
    return service->OnPublish(key, "ignored", topic, payload, qos, retain);
  }
  AclVerdict Acl(ClientKey key, Access access, const std::string& topic, size_t payloadlen = 10) {
    return service->OnAclCheck(key, access, topic, payloadlen);
  }

  // Sets channel `id` as admin client `admin_key` (connected by the caller).
  void SetChannel(ClientKey admin_key, const std::string& id, const std::string& doc) {
    PublishDecision d = Publish(admin_key, "$chat/admin/channels/" + id, doc, 1, true);
    if (d.verdict != PublishVerdict::kDeliver) fail_msg("channel document for %s refused", id.c_str());
  }
};

// A chat message map.
std::string Message(const std::string& id, uint64_t ts, const std::string& body = "hello",
                    const std::function<void(Packer&)>& extra = {}, uint32_t extra_pairs = 0) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_map(3 + extra_pairs);
  p.pack(std::string("id"));
  p.pack_bin(static_cast<uint32_t>(id.size()));
  p.pack_bin_body(id.data(), static_cast<uint32_t>(id.size()));
  p.pack(std::string("ts"));
  p.pack(ts);
  p.pack(std::string("body"));
  p.pack(body);
  if (extra) extra(p);
  return std::string(buffer.data(), buffer.size());
}
std::string MsgId(int n) { return "msg-id-" + std::to_string(100000 + n); }  // 13 bytes

struct Decoded {
  msgpack::object_handle handle;
  const msgpack::object* Get(std::string_view key) const {
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::MAP) fail_msg("not a map");
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
      const auto& kv = root.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key) {
        return &kv.val;
      }
    }
    return nullptr;
  }
  uint64_t U(std::string_view key) const {
    const msgpack::object* o = Get(key);
    if (!o || o->type != msgpack::type::POSITIVE_INTEGER) fail_msg("no uint %.*s", static_cast<int>(key.size()), key.data());
    return o->via.u64;
  }
  std::string S(std::string_view key) const {
    const msgpack::object* o = Get(key);
    if (!o) fail_msg("no key %.*s", static_cast<int>(key.size()), key.data());
    if (o->type == msgpack::type::STR) return std::string(o->via.str.ptr, o->via.str.size);
    if (o->type == msgpack::type::BIN) return std::string(o->via.bin.ptr, o->via.bin.size);
    fail_msg("key %.*s is not str/bin", static_cast<int>(key.size()), key.data());
    return {};
  }
};
Decoded Decode(const std::string& payload) {
  Decoded d;
  d.handle = msgpack::unpack(payload.data(), payload.size());
  return d;
}

// The last published message must be the error `code` to `client_id` about
// its publish in `channel`, carrying `id` (absent when empty).
void ExpectChatError(const FakeBroker& broker, const std::string& client_id, const std::string& channel,
                     const char* code, const std::string& id) {
  std::vector<Outgoing> all = broker.NonPresence();
  assert_int_equal(all.size(), 1);
  const Outgoing& e = all.back();
  assert_string_equal(e.client_id.c_str(), client_id.c_str());
  assert_string_equal(e.topic.c_str(), ("chat/" + channel + "/error").c_str());
  assert_false(e.retain);
  assert_int_equal(e.qos, 1);
  Decoded d = Decode(e.payload);
  assert_string_equal(d.S("code").c_str(), code);
  assert_false(d.S("reason").empty());
  if (id.empty()) {
    assert_null(d.Get("id"));
  } else {
    assert_non_null(d.Get("id"));
    assert_int_equal(d.Get("id")->type, msgpack::type::BIN);
    assert_true(d.S("id") == id);
  }
}

void ExpectRefusedWith(Harness& h, ClientKey key, const std::string& user, const std::string& channel,
                       const std::string& payload, const char* code, const std::string& id) {
  h.broker.Clear();
  PublishDecision d = h.Publish(key, "chat/" + channel + "/msg", payload);
  assert_int_equal(d.verdict, PublishVerdict::kRefuse);
  assert_true(d.payload.empty());
  ExpectChatError(h.broker, Harness::ClientId(user, key), channel, code, id);
}

uint64_t HeadOf(chat::Store* s, const std::string& ch) {
  uint64_t head = 0;
  assert_true(static_cast<chat::ImmediateStore*>(s)->Head(ch, &head).ok());
  return head;
}

const char* kRoom = R"({"type":"group","members":["alice","bob"]})";

// An admin (key 100) and a channel room1 with alice and bob.
void StandardSetup(Harness& h) {
  h.MustStart();
  h.Connect(100, "root", /*admin=*/true);
  h.SetChannel(100, "room1", kRoom);
  h.broker.Clear();
}

// ================================================================== auth

void test_auth_accept(void**) {
  Harness h;
  h.MustStart();
  chat::AuthDecision d = h.Auth(1, "c1", nullptr, h.Token("alice"));
  assert_int_equal(d.verdict, AuthVerdict::kAccept);
  assert_string_equal(d.username.c_str(), "alice");
  d = h.Auth(2, "c2", "", h.Token("alice"));
  assert_int_equal(d.verdict, AuthVerdict::kAccept);
  assert_string_equal(d.username.c_str(), "alice");
  d = h.Auth(3, "c3", "bob", h.Token("bob"));
  assert_int_equal(d.verdict, AuthVerdict::kAccept);
  assert_string_equal(d.username.c_str(), "bob");
  // The session is a chat session: presence is readable.
  assert_int_equal(h.Acl(1, Access::kSubscribe, "presence/#"), AclVerdict::kAllow);
}

void test_auth_refusals(void**) {
  Harness h;
  h.MustStart();
  auto refused = [&](ClientKey key, const char* username, const std::string& password) {
    chat::AuthDecision d = h.Auth(key, "c", username, password);
    assert_int_equal(d.verdict, AuthVerdict::kRefuse);
    assert_true(d.username.empty());
    // Nothing was established for this connection.
    assert_int_equal(h.Acl(key, Access::kSubscribe, "presence/#"), AclVerdict::kDeny);
  };
  // No token.
  assert_int_equal(h.service->OnBasicAuth(1, "c", "alice", nullptr).verdict, AuthVerdict::kRefuse);
  refused(1, "alice", "");
  refused(1, nullptr, "hunter2");
  // Garbage shaped like a JWT, and a token signed with a key not in the JWKS.
  refused(2, nullptr, "aaaa.bbbb.cccc");
  refused(2, nullptr, h.Token("alice", false, "k1", kSecret2));
  refused(2, nullptr, h.Token("alice", false, "k9", kSecret1));
  // A tampered token.
  std::string t = h.Token("alice");
  char& c = t[t.size() - 10];  // inside the signature, where all six bits count
  c = c == 'A' ? 'B' : 'A';
  refused(2, nullptr, t);
  // Username not the token's sub.
  refused(3, "bob", h.Token("alice"));
  refused(3, "Alice", h.Token("alice"));
  // A lifetime above token_max_lifetime_s.
  refused(4, nullptr, h.Token("alice", false, "k1", kSecret1, 301));
  assert_false(h.broker.logs.empty());
}

void test_auth_expired(void**) {
  Harness h;
  h.MustStart();
  const std::string t1 = h.Token("alice");  // exp = kT0s + 300, leeway 5
  const std::string t2 = h.Token("alice");
  // Last accepted second: now == exp + leeway.
  h.env.SetNowMs((kT0s + 305) * 1000 + 999);
  assert_int_equal(h.Auth(1, "c1", nullptr, t1).verdict, AuthVerdict::kAccept);
  h.env.SetNowMs((kT0s + 306) * 1000);
  assert_int_equal(h.Auth(2, "c2", nullptr, t2).verdict, AuthVerdict::kRefuse);
  // Far later too.
  h.env.AdvanceMs(86400 * 1000);
  assert_int_equal(h.Auth(3, "c3", nullptr, h.Token("bob", false, "k1", kSecret1, 300, "fresh")).verdict,
                   AuthVerdict::kAccept);
}

void test_auth_replayed_jti(void**) {
  Harness h;
  h.MustStart();
  const std::string t = h.Token("alice");
  assert_int_equal(h.Auth(1, "c1", nullptr, t).verdict, AuthVerdict::kAccept);
  assert_int_equal(h.Auth(2, "c2", nullptr, t).verdict, AuthVerdict::kRefuse);
  // The same connection presenting it again outside a reload is a replay too.
  assert_int_equal(h.Auth(1, "c1", nullptr, t).verdict, AuthVerdict::kRefuse);
  // Another token with the same jti is the same use.
  const std::string same_jti = h.Token("alice", false, "k1", kSecret1, 200, "jti-1");
  assert_int_equal(h.Auth(3, "c3", nullptr, same_jti).verdict, AuthVerdict::kRefuse);
  // Later, up to the very last millisecond the token verifies, still a replay.
  h.env.SetNowMs((kT0s + 305) * 1000);
  assert_int_equal(h.Auth(4, "c4", nullptr, t).verdict, AuthVerdict::kRefuse);
  h.env.SetNowMs((kT0s + 305) * 1000 + 1);
  assert_int_equal(h.Auth(5, "c5", nullptr, t).verdict, AuthVerdict::kRefuse);
  h.env.SetNowMs((kT0s + 305) * 1000 + 999);
  assert_int_equal(h.Auth(6, "c6", nullptr, t).verdict, AuthVerdict::kRefuse);
}

void test_auth_single_use_off(void**) {
  Harness h;
  h.options.token_single_use = false;
  h.MustStart();
  const std::string t = h.Token("alice");
  assert_int_equal(h.Auth(1, "c1", nullptr, t).verdict, AuthVerdict::kAccept);
  assert_int_equal(h.Auth(2, "c2", nullptr, t).verdict, AuthVerdict::kAccept);
}

void test_auth_reload_recheck(void**) {
  Harness h;
  h.MustStart();
  const std::string t = h.Token("alice");
  assert_int_equal(h.Auth(1, "c1", "alice", t).verdict, AuthVerdict::kAccept);
  h.service->OnReload();
  // The broker re-checks connection 1 with its original password.
  chat::AuthDecision d = h.Auth(1, "c1", "alice", t);
  assert_int_equal(d.verdict, AuthVerdict::kAccept);
  assert_string_equal(d.username.c_str(), "alice");
  // Another connection with that token during the reload is still a replay.
  assert_int_equal(h.Auth(2, "c2", "alice", t).verdict, AuthVerdict::kRefuse);
  // Only the original password passes the re-check: another one on the same
  // connection is judged afresh (and this one is garbage).
  const std::string other = h.Token("mallory");
  const std::string forged = other.substr(0, other.rfind('.') + 1) + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  h.Connect(4, "bob");
  h.service->OnReload();
  assert_int_equal(h.Auth(4, "c4", nullptr, forged).verdict, AuthVerdict::kRefuse);
  assert_int_equal(h.Acl(4, Access::kSubscribe, "presence/#"), AclVerdict::kDeny);
  h.service->OnTick();
  // The reload is over: the same token on a new connection is refused.
  assert_int_equal(h.Auth(3, "c3", "alice", t).verdict, AuthVerdict::kRefuse);
  // Connection 1 kept its session through the reload.
  h.Connect(100, "root", true);
  h.SetChannel(100, "room1", kRoom);
  assert_int_equal(h.Acl(1, Access::kRead, "chat/room1/msg"), AclVerdict::kAllow);
  // Outside a reload, even connection 1 presenting its token again is a replay.
  assert_int_equal(h.Auth(1, "c1", "alice", t).verdict, AuthVerdict::kRefuse);
  assert_int_equal(h.Acl(1, Access::kRead, "chat/room1/msg"), AclVerdict::kDeny);
}

void test_auth_reload_with_rotated_keys(void**) {
  Harness h;
  h.MustStart();
  const std::string old_token = h.Token("alice");
  assert_int_equal(h.Auth(1, "c1", nullptr, old_token).verdict, AuthVerdict::kAccept);
  // Rotate: only k2 now.
  h.WriteJwks(Jwks("k2", kSecret2));
  h.service->OnReload();
  // Documented: a reload re-check of the same connection and token is accepted.
  assert_int_equal(h.Auth(1, "c1", nullptr, old_token).verdict, AuthVerdict::kAccept);
  h.service->OnTick();
  // New connections need the new key.
  assert_int_equal(h.Auth(2, "c2", nullptr, h.Token("bob", false, "k1", kSecret1)).verdict, AuthVerdict::kRefuse);
  assert_int_equal(h.Auth(3, "c3", nullptr, h.Token("bob", false, "k2", kSecret2)).verdict, AuthVerdict::kAccept);
}

void test_keys_refreshed_on_tick(void**) {
  Harness h;
  h.MustStart();
  h.WriteJwks(Jwks("k2", kSecret2));
  // Not yet checked: the k2 token is refused.
  assert_int_equal(h.Auth(1, "c1", nullptr, h.Token("bob", false, "k2", kSecret2)).verdict, AuthVerdict::kRefuse);
  h.env.AdvanceMs(h.options.jwks_check_interval_ms);
  h.service->OnTick();
  assert_int_equal(h.Auth(2, "c2", nullptr, h.Token("bob", false, "k2", kSecret2)).verdict, AuthVerdict::kAccept);
  // A broken file keeps the keys in use.
  h.WriteJwks("{not json");
  h.env.AdvanceMs(h.options.jwks_check_interval_ms);
  h.service->OnTick();
  assert_int_equal(h.Auth(3, "c3", nullptr, h.Token("bob", false, "k2", kSecret2)).verdict, AuthVerdict::kAccept);
}

void test_auth_fallback(void**) {
  Harness h;
  h.options.auth_fallback = true;
  h.MustStart();
  assert_int_equal(h.Auth(1, "c1", "legacy", "plain-password").verdict, AuthVerdict::kDefer);
  assert_int_equal(h.service->OnBasicAuth(2, "c2", "legacy", nullptr).verdict, AuthVerdict::kDefer);
  assert_int_equal(h.Auth(3, "c3", nullptr, "").verdict, AuthVerdict::kDefer);
  // A JWT-shaped password is judged as a token, never deferred.
  assert_int_equal(h.Auth(4, "c4", nullptr, "aaaa.bbbb.cccc").verdict, AuthVerdict::kRefuse);
  assert_int_equal(h.Auth(5, "c5", nullptr, h.Token("alice")).verdict, AuthVerdict::kAccept);
  // A deferred client gets no chat topic.
  assert_int_equal(h.Acl(1, Access::kSubscribe, "presence/#"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(1, Access::kWrite, "sensors/t"), AclVerdict::kAllow);
}

void test_start_missing_jwks(void**) {
  Harness h;
  h.options.jwks_file = h.dir + "/does-not-exist.json";
  assert_false(h.Start().ok());
  Harness bad;
  bad.WriteJwks("{\"keys\":[{\"kty\":\"oct\"}]}");
  assert_false(bad.Start().ok());
}

void test_start_without_jwks_refuses_tokens(void**) {
  Harness h;
  h.options.jwks_file.clear();
  h.MustStart();
  assert_int_equal(h.Auth(1, "c1", nullptr, h.Token("alice")).verdict, AuthVerdict::kRefuse);
}

// ================================================================== ACL

void test_acl_without_session(void**) {
  Harness h;
  StandardSetup(h);
  const ClientKey nobody = 7;
  for (Access a : {Access::kRead, Access::kWrite}) {
    assert_int_equal(h.Acl(nobody, a, "chat/room1/msg"), AclVerdict::kDeny);
    assert_int_equal(h.Acl(nobody, a, "chat/room1/receipt"), AclVerdict::kDeny);
    assert_int_equal(h.Acl(nobody, a, "chat/room1/error"), AclVerdict::kDeny);
    assert_int_equal(h.Acl(nobody, a, "presence/alice"), AclVerdict::kDeny);
    assert_int_equal(h.Acl(nobody, a, "$chat/admin/channels/room1"), AclVerdict::kDeny);
    assert_int_equal(h.Acl(nobody, a, "$chat/admin/error"), AclVerdict::kDeny);
    assert_int_equal(h.Acl(nobody, a, "sensors/temp"), AclVerdict::kAllow);
  }
  assert_int_equal(h.Acl(nobody, Access::kSubscribe, "chat/room1/msg"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(nobody, Access::kSubscribe, "chat/+/msg"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(nobody, Access::kSubscribe, "presence/#"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(nobody, Access::kSubscribe, "$chat/#"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(nobody, Access::kSubscribe, "sensors/#"), AclVerdict::kAllow);
  assert_int_equal(h.Acl(nobody, Access::kSubscribe, "#"), AclVerdict::kAllow);
  assert_int_equal(h.Acl(nobody, Access::kUnsubscribe, "chat/room1/msg"), AclVerdict::kAllow);
  // Publishing to chat topics without a session is refused; plain topics pass.
  assert_int_equal(h.Publish(nobody, "chat/room1/msg", Message(MsgId(1), kT0)).verdict, PublishVerdict::kRefuse);
  assert_int_equal(h.Publish(nobody, "sensors/temp", "21").verdict, PublishVerdict::kPass);
}

void test_acl_plain_topics_option(void**) {
  for (auto [mode, want] : {std::pair{chat::PlainTopics::kAllow, AclVerdict::kAllow},
                            std::pair{chat::PlainTopics::kDefer, AclVerdict::kDefer},
                            std::pair{chat::PlainTopics::kDeny, AclVerdict::kDeny}}) {
    Harness h;
    h.options.plain_topics = mode;
    h.MustStart();
    h.Connect(1, "alice");
    for (ClientKey key : {ClientKey{1}, ClientKey{9}}) {  // with and without a session
      assert_int_equal(h.Acl(key, Access::kRead, "sensors/temp"), want);
      assert_int_equal(h.Acl(key, Access::kWrite, "sensors/temp"), want);
      assert_int_equal(h.Acl(key, Access::kSubscribe, "sensors/#"), want);
      assert_int_equal(h.Acl(key, Access::kSubscribe, "$SYS/#"), want);
    }
    // Chat topics never fall back to the plain verdict.
    assert_int_equal(h.Acl(9, Access::kRead, "chat/x/msg"), AclVerdict::kDeny);
  }
}

void test_acl_membership_read(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  h.Connect(2, "bob");
  h.Connect(3, "carol");
  for (const char* leaf : {"msg", "receipt", "typing", "sync"}) {
    const std::string topic = std::string("chat/room1/") + leaf;
    assert_int_equal(h.Acl(1, Access::kRead, topic), AclVerdict::kAllow);
    assert_int_equal(h.Acl(2, Access::kRead, topic), AclVerdict::kAllow);
    assert_int_equal(h.Acl(3, Access::kRead, topic), AclVerdict::kDeny);
    // An empty payload (a suppressed publish) reaches nobody.
    assert_int_equal(h.Acl(1, Access::kRead, topic, 0), AclVerdict::kDeny);
  }
  assert_int_equal(h.Acl(1, Access::kRead, "chat/unknown/msg"), AclVerdict::kDeny);
  // Removed from the channel: denied at the next message, without resubscribing.
  h.SetChannel(100, "room1", R"({"type":"group","members":["bob"]})");
  assert_int_equal(h.Acl(1, Access::kRead, "chat/room1/msg"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(2, Access::kRead, "chat/room1/msg"), AclVerdict::kAllow);
  // An open channel: any chat user.
  h.SetChannel(100, "lobby", R"({"type":"open"})");
  assert_int_equal(h.Acl(3, Access::kRead, "chat/lobby/msg"), AclVerdict::kAllow);
  assert_int_equal(h.Acl(3, Access::kSubscribe, "chat/lobby/#"), AclVerdict::kAllow);
  // Deleted: nobody.
  assert_int_equal(h.Publish(100, "$chat/admin/channels/room1", "", 1, true).verdict, PublishVerdict::kDeliver);
  assert_int_equal(h.Acl(2, Access::kRead, "chat/room1/msg"), AclVerdict::kDeny);
}

void test_acl_subscribe(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  h.Connect(3, "carol");
  auto sub = [&](ClientKey k, const char* filter) { return h.Acl(k, Access::kSubscribe, filter); };
  assert_int_equal(sub(1, "chat/room1/msg"), AclVerdict::kAllow);
  assert_int_equal(sub(1, "chat/room1/#"), AclVerdict::kAllow);
  assert_int_equal(sub(1, "chat/room1/+"), AclVerdict::kAllow);
  assert_int_equal(sub(1, "chat/room1/error"), AclVerdict::kAllow);
  assert_int_equal(sub(3, "chat/room1/msg"), AclVerdict::kDeny);
  assert_int_equal(sub(3, "chat/room1/#"), AclVerdict::kDeny);
  assert_int_equal(sub(1, "chat/nosuch/msg"), AclVerdict::kDeny);
  // Wildcard channel level: allowed, filtered per message by READ.
  assert_int_equal(sub(3, "chat/+/msg"), AclVerdict::kAllow);
  assert_int_equal(sub(3, "chat/#"), AclVerdict::kAllow);
  assert_int_equal(sub(3, "#"), AclVerdict::kAllow);
  assert_int_equal(sub(3, "+/room1/msg"), AclVerdict::kAllow);
  assert_int_equal(h.Acl(3, Access::kRead, "chat/room1/msg"), AclVerdict::kDeny);
  // Invalid filters under the namespace.
  assert_int_equal(sub(1, "chat/room1/bogus"), AclVerdict::kDeny);
  assert_int_equal(sub(1, "chat/bad$id/msg"), AclVerdict::kDeny);
  assert_int_equal(sub(1, "chat"), AclVerdict::kDeny);
  // Presence: any chat user.
  assert_int_equal(sub(3, "presence/#"), AclVerdict::kAllow);
  assert_int_equal(sub(3, "presence/alice"), AclVerdict::kAllow);
  // $chat: admins only.
  assert_int_equal(sub(1, "$chat/#"), AclVerdict::kDeny);
  assert_int_equal(sub(1, "$chat/admin/channels/+"), AclVerdict::kDeny);
  assert_int_equal(sub(100, "$chat/admin/channels/+"), AclVerdict::kAllow);
  assert_int_equal(sub(100, "$chat/#"), AclVerdict::kAllow);
  // Other $ topics follow plain_topics.
  assert_int_equal(sub(1, "$SYS/#"), AclVerdict::kAllow);
}

void test_acl_write(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  // Nobody but the plugin publishes errors and presence.
  assert_int_equal(h.Acl(1, Access::kWrite, "chat/room1/error"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(100, Access::kWrite, "chat/room1/error"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(1, Access::kWrite, "presence/alice"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(100, Access::kWrite, "presence/alice"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(1, Access::kWrite, "$chat/admin/error"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(1, Access::kWrite, "chat/room1/bogus"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(1, Access::kWrite, "presence/a/b"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(1, Access::kWrite, "$chat/other"), AclVerdict::kDeny);
  // Errors are never routed, even to members.
  assert_int_equal(h.Acl(1, Access::kRead, "chat/room1/error"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(1, Access::kRead, "$chat/admin/error"), AclVerdict::kDeny);
  // Chat and admin writes are judged in OnPublish (with an error reply).
  assert_int_equal(h.Acl(1, Access::kWrite, "chat/room1/msg"), AclVerdict::kAllow);
  assert_int_equal(h.Acl(1, Access::kWrite, "$chat/admin/channels/room1"), AclVerdict::kAllow);
  // Reading channel documents: admins only.
  assert_int_equal(h.Acl(1, Access::kRead, "$chat/admin/channels/room1"), AclVerdict::kDeny);
  assert_int_equal(h.Acl(100, Access::kRead, "$chat/admin/channels/room1"), AclVerdict::kAllow);
  // Publishing to an error topic is refused outright.
  h.broker.Clear();
  assert_int_equal(h.Publish(1, "chat/room1/error", "x").verdict, PublishVerdict::kRefuse);
  assert_int_equal(h.Publish(1, "presence/alice", "x").verdict, PublishVerdict::kRefuse);
  assert_true(h.broker.NonPresence().empty());
}

void test_disconnect_ends_session(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  h.Connect(2, "bob");
  h.service->OnDisconnect(1, /*clean=*/true);
  assert_int_equal(h.Acl(1, Access::kRead, "chat/room1/msg"), AclVerdict::kDeny);
  // A kept (persistent) session still receives until it goes a second time.
  h.service->OnDisconnect(2, /*clean=*/false);
  assert_int_equal(h.Acl(2, Access::kRead, "chat/room1/msg"), AclVerdict::kAllow);
  h.service->OnDisconnect(2, /*clean=*/false);
  assert_int_equal(h.Acl(2, Access::kRead, "chat/room1/msg"), AclVerdict::kDeny);
}

// ================================================================== publish

void test_publish_deliver_sequenced(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  h.Connect(2, "bob");
  h.broker.Clear();
  h.env.AdvanceMs(1234);
  const int64_t now = h.env.NowMs();
  std::string payload = Message(MsgId(1), static_cast<uint64_t>(now), "hi", [](Packer& p) {
    p.pack(std::string("seq"));
    p.pack(77);
    p.pack(std::string("from"));
    p.pack(std::string("mallory"));
    p.pack(std::string("x-app"));
    p.pack(std::string("kept"));
  }, 3);
  PublishDecision d = h.Publish(1, "chat/room1/msg", payload, 1, /*retain=*/true);
  assert_int_equal(d.verdict, PublishVerdict::kDeliver);
  assert_false(d.retain);  // never retained
  Decoded m = Decode(d.payload);
  assert_int_equal(m.U("seq"), 1);
  assert_string_equal(m.S("from").c_str(), "alice");
  assert_int_equal(m.U("sts"), static_cast<uint64_t>(now));
  assert_string_equal(m.S("ch").c_str(), "room1");
  assert_true(m.S("id") == MsgId(1));
  assert_string_equal(m.S("body").c_str(), "hi");
  assert_string_equal(m.S("x-app").c_str(), "kept");
  assert_int_equal(m.handle.get().via.map.size, 8);
  assert_true(h.broker.NonPresence().empty());  // delivered in place, nothing extra

  d = h.Publish(2, "chat/room1/msg", Message(MsgId(2), static_cast<uint64_t>(now)));
  assert_int_equal(d.verdict, PublishVerdict::kDeliver);
  Decoded m2 = Decode(d.payload);
  assert_int_equal(m2.U("seq"), 2);
  assert_string_equal(m2.S("from").c_str(), "bob");
  assert_int_equal(HeadOf(h.store, "room1"), 2);
  // QoS 0 is sequenced the same way.
  d = h.Publish(1, "chat/room1/msg", Message(MsgId(3), static_cast<uint64_t>(now)), 0);
  assert_int_equal(d.verdict, PublishVerdict::kDeliver);
  assert_int_equal(Decode(d.payload).U("seq"), 3);
}

void test_publish_duplicate_suppressed(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  h.broker.Clear();
  const std::string msg = Message(MsgId(1), kT0);
  assert_int_equal(h.Publish(1, "chat/room1/msg", msg).verdict, PublishVerdict::kDeliver);
  h.env.AdvanceMs(1000);
  PublishDecision d = h.Publish(1, "chat/room1/msg", msg);
  assert_int_equal(d.verdict, PublishVerdict::kSuppress);
  assert_true(d.payload.empty());
  assert_true(h.broker.NonPresence().empty());
  assert_int_equal(HeadOf(h.store, "room1"), 1);
  d = h.Publish(1, "chat/room1/msg", Message(MsgId(2), kT0));
  assert_int_equal(Decode(d.payload).U("seq"), 2);
}

void test_publish_qos2(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  h.broker.Clear();
  PublishDecision d = h.Publish(1, "chat/room1/msg", Message(MsgId(1), kT0), 2);
  assert_int_equal(d.verdict, PublishVerdict::kSuppress);
  assert_true(d.payload.empty());
  std::vector<Outgoing> out = h.broker.NonPresence();
  assert_int_equal(out.size(), 1);
  assert_true(out[0].client_id.empty());  // routed to every subscriber
  assert_string_equal(out[0].topic.c_str(), "chat/room1/msg");
  assert_int_equal(out[0].qos, 2);
  assert_false(out[0].retain);
  Decoded m = Decode(out[0].payload);
  assert_int_equal(m.U("seq"), 1);
  assert_string_equal(m.S("from").c_str(), "alice");
  // The QoS 2 resend (same id) is suppressed with nothing routed.
  h.broker.Clear();
  d = h.Publish(1, "chat/room1/msg", Message(MsgId(1), kT0), 2);
  assert_int_equal(d.verdict, PublishVerdict::kSuppress);
  assert_true(h.broker.NonPresence().empty());
}

void test_publish_not_member(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(3, "carol");
  ExpectRefusedWith(h, 3, "carol", "room1", Message(MsgId(1), kT0), "not_member", MsgId(1));
  // An unknown channel is reported the same way.
  ExpectRefusedWith(h, 3, "carol", "nosuch", Message(MsgId(1), kT0), "not_member", MsgId(1));
  assert_int_equal(HeadOf(h.store, "room1"), 0);
}

void test_publish_malformed(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  ExpectRefusedWith(h, 1, "alice", "room1", "not msgpack \xc1", "malformed", "");
  ExpectRefusedWith(h, 1, "alice", "room1", "", "malformed", "");
  // With a readable id, the error carries it.
  msgpack::sbuffer b;
  Packer p(b);
  p.pack_map(2);
  p.pack(std::string("id"));
  p.pack_bin(8);
  p.pack_bin_body("abcdefgh", 8);
  p.pack(std::string("body"));
  p.pack(std::string("no ts"));
  ExpectRefusedWith(h, 1, "alice", "room1", std::string(b.data(), b.size()), "malformed", "abcdefgh");
  assert_int_equal(HeadOf(h.store, "room1"), 0);
}

void test_publish_too_large(void**) {
  Harness h;
  h.options.max_body_bytes = 100;  // whole payload limit 100 + 16 KiB
  StandardSetup(h);
  h.Connect(1, "alice");
  h.broker.Clear();
  assert_int_equal(h.Publish(1, "chat/room1/msg", Message(MsgId(1), kT0, std::string(100, 'b'))).verdict,
                   PublishVerdict::kDeliver);
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(2), kT0, std::string(101, 'b')), "too_large", MsgId(2));
  // Beyond the whole-payload limit the payload is not even decoded: no id.
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(3), kT0, std::string(20000, 'b')), "too_large", "");
  assert_int_equal(HeadOf(h.store, "room1"), 1);
}

void test_publish_stale(void**) {
  Harness h;
  StandardSetup(h);  // replay_window_s 120
  h.Connect(1, "alice");
  const int64_t w = 120 * 1000;
  h.broker.Clear();
  assert_int_equal(h.Publish(1, "chat/room1/msg", Message(MsgId(1), kT0 - w)).verdict, PublishVerdict::kDeliver);
  assert_int_equal(h.Publish(1, "chat/room1/msg", Message(MsgId(2), kT0 + w)).verdict, PublishVerdict::kDeliver);
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(3), kT0 - w - 1), "stale", MsgId(3));
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(4), kT0 + w + 1), "stale", MsgId(4));
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(5), 0), "stale", MsgId(5));
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(6), UINT64_MAX), "stale", MsgId(6));
  assert_int_equal(HeadOf(h.store, "room1"), 2);
  // The window moves with the server clock.
  h.env.AdvanceMs(w + 1);
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(7), kT0), "stale", MsgId(7));
}

void test_publish_rate_limited(void**) {
  Harness h;
  h.options.rate_limit_per_s = 1;  // burst 2
  StandardSetup(h);
  h.Connect(1, "alice");
  h.Connect(2, "bob");
  h.broker.Clear();
  assert_int_equal(h.Publish(1, "chat/room1/msg", Message(MsgId(1), kT0)).verdict, PublishVerdict::kDeliver);
  assert_int_equal(h.Publish(1, "chat/room1/msg", Message(MsgId(2), kT0)).verdict, PublishVerdict::kDeliver);
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(3), kT0), "rate_limited", MsgId(3));
  // Per user: bob is not limited by alice.
  h.broker.Clear();
  assert_int_equal(h.Publish(2, "chat/room1/msg", Message(MsgId(4), kT0)).verdict, PublishVerdict::kDeliver);
  // One second later alice has one more.
  h.env.AdvanceMs(1000);
  assert_int_equal(h.Publish(1, "chat/room1/msg", Message(MsgId(5), kT0 + 1000)).verdict, PublishVerdict::kDeliver);
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(6), kT0 + 1000), "rate_limited", MsgId(6));
  assert_int_equal(HeadOf(h.store, "room1"), 4);
}

void test_publish_plain_topic_passes(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  h.broker.Clear();
  PublishDecision d = h.Publish(1, "sensors/temp", "21.5");
  assert_int_equal(d.verdict, PublishVerdict::kPass);
  assert_true(h.broker.NonPresence().empty());
}

// ================================================================== channel documents

void test_channel_document_from_admin(void**) {
  Harness h;
  h.MustStart();
  h.Connect(100, "root", true);
  h.broker.Clear();
  PublishDecision d =
      h.Publish(100, "$chat/admin/channels/room1", R"({"members":["bob","alice","bob"],"type":"group"})", 1, false);
  assert_int_equal(d.verdict, PublishVerdict::kDeliver);
  assert_true(d.retain);  // retained whatever the publish said
  chat::ChannelConfig want;
  want.id = "room1";
  want.type = chat::ChannelType::kGroup;
  want.members = {"alice", "bob"};
  assert_string_equal(d.payload.c_str(), chat::ToChannelDocument(want).c_str());
  const chat::Channel* ch = h.service->channels().Find("room1");
  assert_non_null(ch);
  assert_true(ch->config == want);
  std::vector<chat::ChannelConfig> saved;
  assert_true(h.store->LoadChannels(&saved).ok());
  assert_int_equal(saved.size(), 1);
  assert_true(saved[0] == want);
  assert_true(h.broker.NonPresence().empty());
}

void ExpectAdminError(const FakeBroker& broker, const std::string& client_id, const std::string& channel) {
  std::vector<Outgoing> all = broker.NonPresence();
  assert_int_equal(all.size(), 1);
  assert_string_equal(all[0].client_id.c_str(), client_id.c_str());
  assert_string_equal(all[0].topic.c_str(), "$chat/admin/error");
  assert_false(all[0].retain);
  json j = json::parse(all[0].payload);
  assert_string_equal(j.at("channel").get<std::string>().c_str(), channel.c_str());
  assert_false(j.at("error").get<std::string>().empty());
}

void test_channel_document_from_non_admin(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  h.broker.Clear();
  PublishDecision d = h.Publish(1, "$chat/admin/channels/room1", R"({"type":"open"})", 1, true);
  assert_int_equal(d.verdict, PublishVerdict::kRefuse);
  ExpectAdminError(h.broker, "alice-1", "room1");
  assert_int_equal(h.service->channels().Find("room1")->config.type, chat::ChannelType::kGroup);
  // Nor may a non-admin delete.
  h.broker.Clear();
  d = h.Publish(1, "$chat/admin/channels/room1", "", 1, true);
  assert_int_equal(d.verdict, PublishVerdict::kRefuse);
  ExpectAdminError(h.broker, "alice-1", "room1");
  assert_non_null(h.service->channels().Find("room1"));
  // Nor create.
  h.broker.Clear();
  d = h.Publish(1, "$chat/admin/channels/mine", R"({"type":"open"})", 1, true);
  assert_int_equal(d.verdict, PublishVerdict::kRefuse);
  assert_null(h.service->channels().Find("mine"));
}

void test_channel_document_invalid(void**) {
  Harness h;
  StandardSetup(h);
  for (const char* doc : {"{", R"({"type":"direct","members":["a"]})", R"({"type":"group","members":["a"],"x":1})",
                          "[1]"}) {
    h.broker.Clear();
    PublishDecision d = h.Publish(100, "$chat/admin/channels/room1", doc, 1, true);
    assert_int_equal(d.verdict, PublishVerdict::kRefuse);
    ExpectAdminError(h.broker, "root-100", "room1");
    // Nothing changed.
    const chat::Channel* ch = h.service->channels().Find("room1");
    assert_non_null(ch);
    assert_int_equal(ch->config.members.size(), 2);
  }
  // Too big a document.
  Harness small;
  small.options.max_channel_doc_bytes = 64;
  StandardSetup(small);
  small.broker.Clear();
  std::string big = R"({"type":"group","members":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]})";
  assert_true(big.size() > 64);
  assert_int_equal(small.Publish(100, "$chat/admin/channels/room2", big, 1, true).verdict, PublishVerdict::kRefuse);
  ExpectAdminError(small.broker, "root-100", "room2");
}

void test_channel_document_delete(void**) {
  Harness h;
  StandardSetup(h);
  h.Connect(1, "alice");
  assert_int_equal(h.Publish(1, "chat/room1/msg", Message(MsgId(1), kT0)).verdict, PublishVerdict::kDeliver);
  assert_int_equal(h.Publish(1, "chat/room1/msg", Message(MsgId(2), kT0)).verdict, PublishVerdict::kDeliver);
  h.broker.Clear();
  PublishDecision d = h.Publish(100, "$chat/admin/channels/room1", "", 1, true);
  assert_int_equal(d.verdict, PublishVerdict::kDeliver);
  assert_true(d.payload.empty());
  assert_true(d.retain);  // the empty retained message clears the document
  assert_null(h.service->channels().Find("room1"));
  std::vector<chat::ChannelConfig> saved;
  assert_true(h.store->LoadChannels(&saved).ok());
  assert_true(saved.empty());
  assert_int_equal(HeadOf(h.store, "room1"), 0);
  // Members are refused now.
  ExpectRefusedWith(h, 1, "alice", "room1", Message(MsgId(3), kT0), "not_member", MsgId(3));
  // Created again, it starts at seq 1 and has forgotten the old ids.
  h.SetChannel(100, "room1", kRoom);
  d = h.Publish(1, "chat/room1/msg", Message(MsgId(1), kT0));
  assert_int_equal(d.verdict, PublishVerdict::kDeliver);
  assert_int_equal(Decode(d.payload).U("seq"), 1);
}

void test_tick_republishes_channels_once(void**) {
  Harness h;
  h.MustStart([](chat::Store* s) {
    chat::ChannelConfig a;
    a.id = "b-room";
    a.type = chat::ChannelType::kOpen;
    chat::ChannelConfig b;
    b.id = "a-room";
    b.members = {"x", "y"};
    b.type = chat::ChannelType::kDirect;
    b.history_max = 3;
    assert_true(s->SaveChannel(a).ok());
    assert_true(s->SaveChannel(b).ok());
  });
  assert_int_equal(h.service->channels().size(), 2);
  h.service->OnTick();
  std::vector<Outgoing> out = h.broker.NonPresence();
  assert_int_equal(out.size(), 2);
  std::vector<chat::ChannelConfig> saved;
  assert_true(h.store->LoadChannels(&saved).ok());
  for (const chat::ChannelConfig& c : saved) {
    std::vector<Outgoing> doc = h.broker.On("$chat/admin/channels/" + c.id);
    assert_int_equal(doc.size(), 1);
    assert_true(doc[0].client_id.empty());
    assert_true(doc[0].retain);
    assert_string_equal(doc[0].payload.c_str(), chat::ToChannelDocument(c).c_str());
  }
  h.broker.Clear();
  h.env.AdvanceMs(60000);
  h.service->OnTick();
  h.service->OnTick();
  for (const Outgoing& m : h.broker.NonPresence()) {
    assert_true(m.topic.rfind("$chat/admin/channels/", 0) != 0);  // not again
  }
}

void test_tick_publishes_sys_stats_every_interval(void**) {
  Harness h;
  h.MustStart();
  h.service->OnTick();
  assert_true(h.broker.On("$SYS/broker/chat/messages/accepted").empty());  // not before sys_interval_s
  h.env.AdvanceMs(10000);
  h.service->OnTick();
  std::vector<Outgoing> accepted = h.broker.On("$SYS/broker/chat/messages/accepted");
  assert_int_equal(accepted.size(), 1);
  assert_string_equal(accepted[0].payload.c_str(), "0");
  assert_true(accepted[0].retain);
  assert_int_equal(h.broker.On("$SYS/broker/chat/messages/refused/not_member").size(), 1);
  h.service->OnTick();
  assert_int_equal(h.broker.On("$SYS/broker/chat/messages/accepted").size(), 1);  // once per interval
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auth_accept),
      cmocka_unit_test(test_auth_refusals),
      cmocka_unit_test(test_auth_expired),
      cmocka_unit_test(test_auth_replayed_jti),
      cmocka_unit_test(test_auth_single_use_off),
      cmocka_unit_test(test_auth_reload_recheck),
      cmocka_unit_test(test_auth_reload_with_rotated_keys),
      cmocka_unit_test(test_keys_refreshed_on_tick),
      cmocka_unit_test(test_auth_fallback),
      cmocka_unit_test(test_start_missing_jwks),
      cmocka_unit_test(test_start_without_jwks_refuses_tokens),
      cmocka_unit_test(test_acl_without_session),
      cmocka_unit_test(test_acl_plain_topics_option),
      cmocka_unit_test(test_acl_membership_read),
      cmocka_unit_test(test_acl_subscribe),
      cmocka_unit_test(test_acl_write),
      cmocka_unit_test(test_disconnect_ends_session),
      cmocka_unit_test(test_publish_deliver_sequenced),
      cmocka_unit_test(test_publish_duplicate_suppressed),
      cmocka_unit_test(test_publish_qos2),
      cmocka_unit_test(test_publish_not_member),
      cmocka_unit_test(test_publish_malformed),
      cmocka_unit_test(test_publish_too_large),
      cmocka_unit_test(test_publish_stale),
      cmocka_unit_test(test_publish_rate_limited),
      cmocka_unit_test(test_publish_plain_topic_passes),
      cmocka_unit_test(test_channel_document_from_admin),
      cmocka_unit_test(test_channel_document_from_non_admin),
      cmocka_unit_test(test_channel_document_invalid),
      cmocka_unit_test(test_channel_document_delete),
      cmocka_unit_test(test_tick_republishes_channels_once),
      cmocka_unit_test(test_tick_publishes_sys_stats_every_interval),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
