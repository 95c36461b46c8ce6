// The Store contract (chatlogic/include/chat/store.h), run against every
// Store implementation.
//
// To add an implementation, add one line to Factories() below (`local` runs
// in both fsync modes). A factory
// opens the store for a directory: the same directory again must give the
// same durable state (a reopen), a fresh directory an empty store. Every test
// gets a fresh directory. A store may answer Append with kPending; the tests
// then poll PollCompletions() until the callback reports.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <memory>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chat/env.h"
#include "chat/local_store.h"
#include "chat/memory_store.h"
#include "chat/redis_address.h"
#include "chat/redis_store.h"
#include "chat/store.h"
#include "cmocka_wrap.h"
#include "redis_server_fixture.h"

namespace {

using chat::AppendResult;
using chat::AppendStatus;
using chat::ChannelConfig;
using chat::ChannelType;
using chat::HistoryLimits;
using chat::Status;
using chat::StoredMessage;
using chat::Store;
using chat::StoreSettings;

using StoreOpener = std::function<std::unique_ptr<Store>(const StoreSettings&, const std::string& dir)>;
struct StoreFactory {
  const char* name;
  StoreOpener open;
};

std::unique_ptr<Store> OpenMemory(const StoreSettings& settings, const std::string& dir) {
  std::unique_ptr<Store> out;
  Status s = chat::MemoryStore::Open(settings, dir + "/channels.json", &out);
  if (!s.ok()) fail_msg("MemoryStore::Open: %s", s.ToString().c_str());
  return out;
}

std::unique_ptr<Store> OpenLocal(const StoreSettings& settings, const std::string& dir, chat::FsyncMode fsync) {
  chat::LocalStoreOptions local;
  local.dir = dir + "/chat.lmdb";
  local.fsync = fsync;
  local.map_size_bytes = uint64_t{1} << 30;
  std::unique_ptr<Store> out;
  Status s = chat::OpenLocalStore(local, settings, &out);
  if (!s.ok()) fail_msg("OpenLocalStore: %s", s.ToString().c_str());
  return out;
}

// One real redis-server for the whole run; each test's directory gets its
// own key prefix, so every test starts from an empty cluster state.
chat_test::RedisServerFixture& SharedRedis() {
  static chat_test::RedisServerFixture redis;  // stopped at exit
  static const bool started = redis.Start();
  if (!started) fail_msg("could not start redis-server for the contract suite");
  return redis;
}

std::unique_ptr<Store> OpenRedis(const StoreSettings& settings, const std::string& dir) {
  chat::RedisStoreOptions options;
  Status s = chat::ParseRedisUrl(SharedRedis().url(), &options.address);
  if (!s.ok()) fail_msg("redis url: %s", s.ToString().c_str());
  options.node_id = "contract";
  options.key_prefix = "t" + std::to_string(std::hash<std::string>{}(dir)) + ":";
  options.local.dir = dir + "/chat.lmdb";
  options.local.fsync = chat::FsyncMode::kAlways;
  options.local.map_size_bytes = uint64_t{1} << 30;
  std::unique_ptr<Store> out;
  s = chat::OpenRedisStore(options, settings, &out);
  if (!s.ok()) fail_msg("OpenRedisStore: %s", s.ToString().c_str());
  return out;
}

const std::vector<StoreFactory>& Factories() {
  static const std::vector<StoreFactory> factories = {
      {"memory", OpenMemory},
      {"local-always", [](const StoreSettings& s, const std::string& d) { return OpenLocal(s, d, chat::FsyncMode::kAlways); }},
      {"local-everysec", [](const StoreSettings& s, const std::string& d) { return OpenLocal(s, d, chat::FsyncMode::kEverySec); }},
      {"redis", OpenRedis},
  };
  return factories;
}

constexpr int64_t kDedupMs = 10000;
constexpr int64_t kT0 = 1700000000000;

// ------------------------------------------------------------------ fixture

struct Fixture {
  const StoreFactory* factory = nullptr;
  std::string dir;
  chat::FakeEnv env{kT0};  // kept across reopen: epochs must not repeat
  StoreSettings settings;
  std::unique_ptr<Store> store;

  void Reopen() {
    store.reset();
    store = factory->open(settings, dir);
    assert_non_null(store.get());
  }
};

int Setup(void** state) {
  auto* f = new Fixture;
  f->factory = static_cast<const StoreFactory*>(*state);
  char tmpl[] = "/tmp/chat_store_contract_XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return -1;
  f->dir = tmpl;
  f->settings.dedup_window_ms = kDedupMs;
  f->settings.env = &f->env;
  f->store = f->factory->open(f->settings, f->dir);
  if (!f->store) return -1;
  *state = f;
  return 0;
}

int Teardown(void** state) {
  auto* f = static_cast<Fixture*>(*state);
  f->store.reset();
  std::error_code ec;
  std::filesystem::remove_all(f->dir, ec);
  delete f;
  return 0;
}

Fixture& F(void** state) { return *static_cast<Fixture*>(*state); }

// ------------------------------------------------------------------ helpers

chat::ClientMessage Msg(const std::string& id, const std::string& body) {
  chat::ClientMessage m;
  m.id = id;
  m.ts = static_cast<uint64_t>(kT0);
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> p(buffer);
  p.pack(std::string("body"));
  p.pack(body);
  p.pack(std::string("x-extra"));
  p.pack_array(2);
  p.pack(1);
  p.pack_nil();
  m.fields.packed.assign(buffer.data(), buffer.size());
  m.fields.count = 2;
  return m;
}

std::string Id(int n) {
  std::string id = "message-id-";
  id += std::to_string(n);
  return id;  // 12+ bytes
}

// Appends and waits for the final outcome (polling a kPending store).
AppendResult Append(Store* store, std::string_view channel, const chat::ClientMessage& m, int64_t now_ms,
                    HistoryLimits limits = {}, std::string_view from = "alice") {
  chat::AppendRequest req;
  req.channel = channel;
  req.message = &m;
  req.from = from;
  req.now_ms = now_ms;
  req.limits = limits;
  const std::string client = "client-of-" + std::string(from);
  req.client = client;
  req.node = "node-a";
  std::optional<AppendResult> later;
  AppendResult r = store->Append(req, [&later](std::string_view, const AppendResult& x, const chat::StoredMessage&) { later = x; });
  if (r.status != AppendStatus::kPending) return r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!later && std::chrono::steady_clock::now() < deadline) {
    store->PollCompletions();
    if (!later) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!later) fail_msg("a pending Append never completed");
  return *later;
}

uint64_t Accept(Store* store, std::string_view channel, int n, int64_t now_ms, HistoryLimits limits = {}) {
  AppendResult r = Append(store, channel, Msg(Id(n), "body " + std::to_string(n)), now_ms, limits);
  if (r.status != AppendStatus::kAccepted) fail_msg("message %d not accepted (status %d)", n, static_cast<int>(r.status));
  assert_true(r.error.ok());
  return r.seq;
}

// Runs `start` and polls the store until the callback it was given has run.
void Await(Store* store, const std::function<void(std::function<void()> finished)>& start, const char* what) {
  bool done = false;
  start([&done] { done = true; });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    store->PollCompletions();
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!done) fail_msg("%s never completed", what);
}

Status Snapshot(Store* store, std::string_view channel, std::string_view user, uint64_t after, size_t limit,
                int64_t now_ms, HistoryLimits limits, Store::SyncSnapshot* out) {
  Store::SyncQuery q;
  q.channel = std::string(channel);
  q.user = std::string(user);
  q.after = after;
  q.limit = limit;
  q.now_ms = now_ms;
  q.limits = limits;
  Status result = Status::IOError("not called");
  Await(store, [&](std::function<void()> finished) {
    store->ReadSync(q, [&result, out, finished](const Status& st, const Store::SyncSnapshot& snap) {
      result = st;
      *out = snap;
      finished();
    });
  }, "ReadSync");
  return result;
}

Status Advance(Store* store, std::string_view channel, std::string_view user, chat::ReceiptKind kind, uint64_t upto,
               chat::Watermarks* now, bool* advanced) {
  Status result = Status::IOError("not called");
  Await(store, [&](std::function<void()> finished) {
    store->AdvanceWatermark(channel, user, kind, upto,
                            [&result, now, advanced, finished](const Status& st, const chat::Watermarks& w, bool a) {
                              result = st;
                              *now = w;
                              *advanced = a;
                              finished();
                            });
  }, "AdvanceWatermark");
  return result;
}

Status Marks(Store* store, std::string_view channel, std::string_view user, chat::Watermarks* out) {
  Store::SyncSnapshot snap;
  Status st = Snapshot(store, channel, user, 0, 0, kT0, HistoryLimits{}, &snap);
  *out = snap.marks;
  return st;
}

uint64_t HeadOf(Store* store, std::string_view channel) {
  Store::SyncSnapshot snap;
  snap.head = 12345;
  // Reading nothing at the far past: retention drops nothing.
  Status s = Snapshot(store, channel, "nobody", 0, 0, 0, HistoryLimits{}, &snap);
  assert_true(s.ok());
  return snap.head;
}

struct Page {
  std::vector<StoredMessage> messages;
  uint64_t first_kept = 0;
};
Page Read(Store* store, std::string_view channel, uint64_t after, size_t limit, int64_t now_ms,
          HistoryLimits limits = {}) {
  Store::SyncSnapshot snap;
  snap.page.push_back(StoredMessage{});  // must be cleared by the store
  snap.first_kept = 999999;
  Status s = Snapshot(store, channel, "nobody", after, limit, now_ms, limits, &snap);
  if (!s.ok()) fail_msg("ReadSync: %s", s.ToString().c_str());
  Page p;
  p.messages = std::move(snap.page);
  p.first_kept = snap.first_kept;
  return p;
}

void ExpectSeqs(const Page& p, std::vector<uint64_t> want) {
  if (p.messages.size() != want.size()) {
    fail_msg("got %zu messages, expected %zu", p.messages.size(), want.size());
  }
  for (size_t i = 0; i < want.size(); ++i) assert_int_equal(p.messages[i].seq, want[i]);
}

std::string EpochOf(Store* store, std::string_view channel) {
  Store::SyncSnapshot snap;
  assert_true(Snapshot(store, channel, "nobody", 0, 0, 0, HistoryLimits{}, &snap).ok());
  assert_false(snap.epoch.empty());
  return snap.epoch;
}

ChannelConfig Channel(const std::string& id, std::vector<std::string> members,
                      ChannelType type = ChannelType::kGroup) {
  ChannelConfig c;
  c.id = id;
  c.type = type;
  c.members = std::move(members);
  return c;
}

std::vector<ChannelConfig> Channels(Store* store) {
  std::vector<ChannelConfig> out{Channel("garbage", {"x"})};  // must be replaced
  assert_true(store->LoadChannels(&out).ok());
  std::sort(out.begin(), out.end(), [](const ChannelConfig& a, const ChannelConfig& b) { return a.id < b.id; });
  return out;
}

// ------------------------------------------------------------------ sequences

void test_seq_per_channel(void** state) {
  Store* s = F(state).store.get();
  assert_int_equal(HeadOf(s, "a"), 0);
  assert_int_equal(Accept(s, "a", 1, kT0), 1);
  assert_int_equal(Accept(s, "a", 2, kT0), 2);
  assert_int_equal(Accept(s, "b", 3, kT0), 1);  // channels are independent
  assert_int_equal(Accept(s, "a", 4, kT0 + 1), 3);
  assert_int_equal(Accept(s, "b", 5, kT0 + 1), 2);
  assert_int_equal(HeadOf(s, "a"), 3);
  assert_int_equal(HeadOf(s, "b"), 2);
  assert_int_equal(HeadOf(s, "c"), 0);
  // The same id in another channel is another message.
  assert_int_equal(Accept(s, "c", 1, kT0 + 2), 1);
}

void test_duplicate_inside_window(void** state) {
  Store* s = F(state).store.get();
  assert_int_equal(Accept(s, "a", 1, kT0), 1);
  assert_int_equal(Accept(s, "a", 2, kT0), 2);
  // The same id again, even with another body: the original's seq, no new seq.
  AppendResult r = Append(s, "a", Msg(Id(1), "changed"), kT0 + 1);
  assert_int_equal(r.status, AppendStatus::kDuplicate);
  assert_int_equal(r.seq, 1);
  r = Append(s, "a", Msg(Id(2), "x"), kT0 + kDedupMs - 1);
  assert_int_equal(r.status, AppendStatus::kDuplicate);
  assert_int_equal(r.seq, 2);
  assert_int_equal(HeadOf(s, "a"), 2);
  // Not stored again.
  Page p = Read(s, "a", 0, 100, kT0 + 2);
  ExpectSeqs(p, {1, 2});
  // The next new message takes the next seq: no gap.
  assert_int_equal(Accept(s, "a", 3, kT0 + 3), 3);
}

void test_dedup_window_edge(void** state) {
  Store* s = F(state).store.get();
  assert_int_equal(Accept(s, "a", 1, kT0), 1);
  // One ms before the window ends: still a duplicate (a duplicate does not
  // extend the window).
  AppendResult r = Append(s, "a", Msg(Id(1), "x"), kT0 + kDedupMs - 1);
  assert_int_equal(r.status, AppendStatus::kDuplicate);
  assert_int_equal(r.seq, 1);
  // Exactly dedup_window_ms after acceptance the fingerprint has expired.
  r = Append(s, "a", Msg(Id(1), "x"), kT0 + kDedupMs);
  assert_int_equal(r.status, AppendStatus::kAccepted);
  assert_int_equal(r.seq, 2);
  // The new acceptance starts a new window, with the new seq.
  r = Append(s, "a", Msg(Id(1), "x"), kT0 + 2 * kDedupMs - 1);
  assert_int_equal(r.status, AppendStatus::kDuplicate);
  assert_int_equal(r.seq, 2);
  r = Append(s, "a", Msg(Id(1), "x"), kT0 + 2 * kDedupMs);
  assert_int_equal(r.status, AppendStatus::kAccepted);
  assert_int_equal(r.seq, 3);
}

void test_dedup_window_is_per_message(void** state) {
  Store* s = F(state).store.get();
  assert_int_equal(Accept(s, "a", 1, kT0), 1);
  assert_int_equal(Accept(s, "a", 2, kT0 + 5000), 2);
  // At kT0 + window, id 1 has expired but id 2 has not.
  AppendResult r = Append(s, "a", Msg(Id(2), "x"), kT0 + kDedupMs);
  assert_int_equal(r.status, AppendStatus::kDuplicate);
  assert_int_equal(r.seq, 2);
  r = Append(s, "a", Msg(Id(1), "x"), kT0 + kDedupMs);
  assert_int_equal(r.status, AppendStatus::kAccepted);
  assert_int_equal(r.seq, 3);
  r = Append(s, "a", Msg(Id(2), "x"), kT0 + 5000 + kDedupMs);
  assert_int_equal(r.status, AppendStatus::kAccepted);
  assert_int_equal(r.seq, 4);
}

// ------------------------------------------------------------------ history

void test_history_paging(void** state) {
  Store* s = F(state).store.get();
  for (int i = 1; i <= 10; ++i) Accept(s, "a", i, kT0 + i);
  Accept(s, "b", 99, kT0);
  Page p = Read(s, "a", 0, 3, kT0 + 20);
  ExpectSeqs(p, {1, 2, 3});
  assert_int_equal(p.first_kept, 1);
  p = Read(s, "a", 3, 3, kT0 + 20);
  ExpectSeqs(p, {4, 5, 6});
  p = Read(s, "a", 6, 3, kT0 + 20);
  ExpectSeqs(p, {7, 8, 9});
  p = Read(s, "a", 9, 3, kT0 + 20);
  ExpectSeqs(p, {10});
  p = Read(s, "a", 10, 3, kT0 + 20);
  ExpectSeqs(p, {});
  assert_int_equal(p.first_kept, 1);
  p = Read(s, "a", 500, 3, kT0 + 20);
  ExpectSeqs(p, {});
  p = Read(s, "a", 4, 0, kT0 + 20);
  ExpectSeqs(p, {});
  p = Read(s, "a", 0, 100, kT0 + 20);
  ExpectSeqs(p, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});

  // Every stored field comes back.
  const StoredMessage& m = p.messages[4];
  chat::ClientMessage sent = Msg(Id(5), "body 5");
  assert_int_equal(m.seq, 5);
  assert_true(m.id == Id(5));
  assert_string_equal(m.from.c_str(), "alice");
  assert_int_equal(m.sts, kT0 + 5);
  assert_int_equal(m.fields.count, sent.fields.count);
  assert_true(m.fields.packed == sent.fields.packed);

  // An unknown channel: nothing, first_kept = head + 1 = 1.
  p = Read(s, "nope", 0, 10, kT0);
  ExpectSeqs(p, {});
  assert_int_equal(p.first_kept, 1);
}

void test_history_keeps_publisher(void** state) {
  Store* s = F(state).store.get();
  assert_int_equal(Append(s, "a", Msg(Id(1), "x"), kT0, {}, "bob").seq, 1);
  assert_int_equal(Append(s, "a", Msg(Id(2), "y"), kT0 + 7, {}, "carol").seq, 2);
  Page p = Read(s, "a", 0, 10, kT0 + 8);
  ExpectSeqs(p, {1, 2});
  assert_string_equal(p.messages[0].from.c_str(), "bob");
  assert_string_equal(p.messages[1].from.c_str(), "carol");
  assert_int_equal(p.messages[1].sts, kT0 + 7);
  // Where it came from and when it was stored, for traceMessage.
  assert_string_equal(p.messages[0].client.c_str(), "client-of-bob");
  assert_string_equal(p.messages[1].node.c_str(), "node-a");
  assert_true(p.messages[1].stored_ms >= static_cast<uint64_t>(kT0 + 7));
}

void test_retention_by_count(void** state) {
  Store* s = F(state).store.get();
  HistoryLimits three{3, 0};
  for (int i = 1; i <= 5; ++i) assert_int_equal(Accept(s, "a", i, kT0, three), static_cast<uint64_t>(i));
  Page p = Read(s, "a", 0, 100, kT0, three);
  ExpectSeqs(p, {3, 4, 5});
  assert_int_equal(p.first_kept, 3);
  p = Read(s, "a", 3, 100, kT0, three);
  ExpectSeqs(p, {4, 5});
  assert_int_equal(p.first_kept, 3);
  // A tighter limit at read time trims too.
  p = Read(s, "a", 0, 100, kT0, HistoryLimits{1, 0});
  ExpectSeqs(p, {5});
  assert_int_equal(p.first_kept, 5);
  assert_int_equal(HeadOf(s, "a"), 5);
  // Exactly max_count messages are all kept.
  HistoryLimits two{2, 0};
  Accept(s, "b", 1, kT0, two);
  Accept(s, "b", 2, kT0, two);
  p = Read(s, "b", 0, 100, kT0, two);
  ExpectSeqs(p, {1, 2});
  assert_int_equal(p.first_kept, 1);
}

void test_retention_by_age(void** state) {
  Store* s = F(state).store.get();
  HistoryLimits age{10000, 1000};
  Accept(s, "a", 1, kT0, age);
  Accept(s, "a", 2, kT0 + 500, age);
  Accept(s, "a", 3, kT0 + 1000, age);
  Page p = Read(s, "a", 0, 100, kT0 + 1000, age);
  ExpectSeqs(p, {1, 2, 3});
  assert_int_equal(p.first_kept, 1);
  // A message exactly max_age_ms old is still kept; one ms older is not.
  p = Read(s, "a", 0, 100, kT0 + 1500, age);
  ExpectSeqs(p, {2, 3});
  assert_int_equal(p.first_kept, 2);
  p = Read(s, "a", 0, 100, kT0 + 1501, age);
  ExpectSeqs(p, {3});
  assert_int_equal(p.first_kept, 3);
  // Everything aged out: empty, first_kept = head + 1, head unchanged.
  p = Read(s, "a", 0, 100, kT0 + 100000, age);
  ExpectSeqs(p, {});
  assert_int_equal(p.first_kept, 4);
  assert_int_equal(HeadOf(s, "a"), 3);
  // max_age_ms 0 means no age limit.
  Accept(s, "b", 1, kT0, HistoryLimits{10000, 0});
  p = Read(s, "b", 0, 100, kT0 + 1000LL * 86400 * 3650, HistoryLimits{10000, 0});
  ExpectSeqs(p, {1});
}

void test_max_count_zero(void** state) {
  Store* s = F(state).store.get();
  HistoryLimits none{0, 0};
  assert_int_equal(Accept(s, "a", 1, kT0, none), 1);
  assert_int_equal(Accept(s, "a", 2, kT0, none), 2);
  assert_int_equal(Accept(s, "a", 3, kT0, none), 3);
  assert_int_equal(HeadOf(s, "a"), 3);
  Page p = Read(s, "a", 0, 100, kT0, none);
  ExpectSeqs(p, {});
  assert_int_equal(p.first_kept, 4);
  // Dedup does not depend on history.
  AppendResult r = Append(s, "a", Msg(Id(2), "again"), kT0 + 1, none);
  assert_int_equal(r.status, AppendStatus::kDuplicate);
  assert_int_equal(r.seq, 2);
}

// ------------------------------------------------------------------ tokens

void test_claim_token_id(void** state) {
  Store* s = F(state).store.get();
  const int64_t expires = kT0 + 60000;
  bool first = false;
  assert_true(s->ClaimTokenId("jti-1", expires, kT0, &first).ok());
  assert_true(first);
  first = true;
  assert_true(s->ClaimTokenId("jti-1", expires, kT0 + 1, &first).ok());
  assert_false(first);
  // Another id is independent.
  assert_true(s->ClaimTokenId("jti-2", expires, kT0 + 1, &first).ok());
  assert_true(first);
  // Still recorded at exactly expires_ms...
  first = true;
  assert_true(s->ClaimTokenId("jti-1", expires, expires, &first).ok());
  assert_false(first);
  // ... and free again after it.
  assert_true(s->ClaimTokenId("jti-1", expires + 60000, expires + 1, &first).ok());
  assert_true(first);
  // That use is recorded with its own expiry.
  first = true;
  assert_true(s->ClaimTokenId("jti-1", expires + 60000, expires + 2, &first).ok());
  assert_false(first);
  first = true;
  assert_true(s->ClaimTokenId("jti-1", expires + 60000, expires + 60000, &first).ok());
  assert_false(first);
  assert_true(s->ClaimTokenId("jti-1", expires + 70000, expires + 60001, &first).ok());
  assert_true(first);
}

void test_claim_token_id_many(void** state) {
  Store* s = F(state).store.get();
  bool first = false;
  for (int i = 0; i < 100; ++i) {
    assert_true(s->ClaimTokenId("j" + std::to_string(i), kT0 + i, kT0, &first).ok());
    assert_true(first);
  }
  // At kT0 + 50, ids 0..49 expired, 50..99 not.
  for (int i = 0; i < 100; ++i) {
    assert_true(s->ClaimTokenId("j" + std::to_string(i), kT0 + 1000, kT0 + 50, &first).ok());
    assert_int_equal(first, i < 50);
  }
}

// ------------------------------------------------------------------ channels

void test_channels_save_load_delete(void** state) {
  Store* s = F(state).store.get();
  assert_true(Channels(s).empty());
  ChannelConfig a = Channel("a", {"alice", "bob"});
  ChannelConfig b = Channel("b", {}, ChannelType::kOpen);
  b.history_max = 5;
  b.history_max_age_s = 60;
  b.receipts = false;
  b.typing = false;
  assert_true(s->SaveChannel(b).ok());
  assert_true(s->SaveChannel(a).ok());
  std::vector<ChannelConfig> all = Channels(s);
  assert_int_equal(all.size(), 2);
  assert_true(all[0] == a);
  assert_true(all[1] == b);
  // Saving again replaces.
  ChannelConfig a2 = Channel("a", {"carol"});
  assert_true(s->SaveChannel(a2).ok());
  all = Channels(s);
  assert_int_equal(all.size(), 2);
  assert_true(all[0] == a2);
  // Delete.
  assert_true(s->DeleteChannel("a").ok());
  all = Channels(s);
  assert_int_equal(all.size(), 1);
  assert_true(all[0] == b);
  // Deleting an unknown channel is not an error.
  assert_true(s->DeleteChannel("a").ok());
  assert_true(s->DeleteChannel("never").ok());
  assert_int_equal(Channels(s).size(), 1);
}

void test_delete_resets_channel_state(void** state) {
  Store* s = F(state).store.get();
  assert_true(s->SaveChannel(Channel("a", {"alice"})).ok());
  Accept(s, "a", 1, kT0);
  Accept(s, "a", 2, kT0);
  Accept(s, "a", 3, kT0);
  Accept(s, "b", 1, kT0);
  chat::Watermarks w;
  bool advanced = false;
  assert_true(Advance(s, "a", "alice", chat::ReceiptKind::kRead, 3, &w, &advanced).ok());
  const std::string epoch = EpochOf(s, "a");
  const std::string epoch_b = EpochOf(s, "b");

  assert_true(s->DeleteChannel("a").ok());
  assert_int_equal(HeadOf(s, "a"), 0);
  Page p = Read(s, "a", 0, 100, kT0 + 1);
  ExpectSeqs(p, {});
  assert_int_equal(p.first_kept, 1);
  assert_true(Marks(s, "a", "alice", &w).ok());
  assert_int_equal(w.read, 0);
  assert_int_equal(w.delivered, 0);
  // The sequence starts again, under a new epoch.
  assert_true(EpochOf(s, "a") != epoch);
  // Dedup is forgotten: the same id is a new message with seq 1.
  AppendResult r = Append(s, "a", Msg(Id(2), "again"), kT0 + 2);
  assert_int_equal(r.status, AppendStatus::kAccepted);
  assert_int_equal(r.seq, 1);
  p = Read(s, "a", 0, 100, kT0 + 3);
  ExpectSeqs(p, {1});
  assert_true(p.messages[0].id == Id(2));
  // Another channel is untouched.
  assert_int_equal(HeadOf(s, "b"), 1);
  assert_true(EpochOf(s, "b") == epoch_b);
}

void test_delete_without_config_resets_state(void** state) {
  Store* s = F(state).store.get();
  Accept(s, "a", 1, kT0);
  assert_true(s->DeleteChannel("a").ok());
  assert_int_equal(HeadOf(s, "a"), 0);
  assert_int_equal(Accept(s, "a", 1, kT0 + 1), 1);
}

void test_channels_survive_reopen(void** state) {
  Fixture& f = F(state);
  ChannelConfig a = Channel("a", {"alice", "bob"}, ChannelType::kDirect);
  ChannelConfig b = Channel("b", {"z"});
  b.history_max = 0;
  assert_true(f.store->SaveChannel(a).ok());
  assert_true(f.store->SaveChannel(b).ok());
  assert_true(f.store->SaveChannel(Channel("c", {"q"})).ok());
  assert_true(f.store->DeleteChannel("c").ok());
  f.Reopen();
  std::vector<ChannelConfig> all = Channels(f.store.get());
  assert_int_equal(all.size(), 2);
  assert_true(all[0] == a);
  assert_true(all[1] == b);
}

void test_reopen_keeps_or_restarts_sequence(void** state) {
  // A store either keeps a channel's sequence across a reopen (durable) or
  // starts it again under a new epoch: never seq 1 twice under one epoch.
  Fixture& f = F(state);
  Accept(f.store.get(), "a", 1, kT0);
  Accept(f.store.get(), "a", 2, kT0);
  const std::string epoch = EpochOf(f.store.get(), "a");
  f.Reopen();
  const uint64_t head = HeadOf(f.store.get(), "a");
  const std::string after = EpochOf(f.store.get(), "a");
  if (head == 0) {
    assert_true(after != epoch);
    assert_int_equal(Accept(f.store.get(), "a", 3, kT0 + 1), 1);
  } else {
    assert_int_equal(head, 2);
    assert_true(after == epoch);
    assert_int_equal(Accept(f.store.get(), "a", 3, kT0 + 1), 3);
  }
}

// ------------------------------------------------------------------ receipts, epochs

void test_watermarks(void** state) {
  Store* s = F(state).store.get();
  for (int i = 1; i <= 5; ++i) Accept(s, "a", i, kT0);
  chat::Watermarks w{99, 99};
  bool advanced = false;
  assert_true(Marks(s, "a", "alice", &w).ok());
  assert_int_equal(w.read, 0);
  assert_int_equal(w.delivered, 0);

  // delivered up to 2.
  assert_true(Advance(s, "a", "alice", chat::ReceiptKind::kDelivered, 2, &w, &advanced).ok());
  assert_true(advanced);
  assert_int_equal(w.delivered, 2);
  assert_int_equal(w.read, 0);
  // read up to 3 implies delivered 3.
  assert_true(Advance(s, "a", "alice", chat::ReceiptKind::kRead, 3, &w, &advanced).ok());
  assert_true(advanced);
  assert_int_equal(w.read, 3);
  assert_int_equal(w.delivered, 3);
  // Lower or equal: no move.
  assert_true(Advance(s, "a", "alice", chat::ReceiptKind::kDelivered, 3, &w, &advanced).ok());
  assert_false(advanced);
  assert_true(Advance(s, "a", "alice", chat::ReceiptKind::kRead, 1, &w, &advanced).ok());
  assert_false(advanced);
  assert_int_equal(w.read, 3);
  assert_int_equal(w.delivered, 3);
  // Capped at head.
  assert_true(Advance(s, "a", "alice", chat::ReceiptKind::kDelivered, 1000, &w, &advanced).ok());
  assert_true(advanced);
  assert_int_equal(w.delivered, 5);
  assert_int_equal(w.read, 3);
  assert_true(Advance(s, "a", "alice", chat::ReceiptKind::kRead, 1000, &w, &advanced).ok());
  assert_true(advanced);
  assert_int_equal(w.read, 5);
  assert_true(Advance(s, "a", "alice", chat::ReceiptKind::kRead, 1000, &w, &advanced).ok());
  assert_false(advanced);
  // Stored, per user and channel.
  assert_true(Marks(s, "a", "alice", &w).ok());
  assert_int_equal(w.read, 5);
  assert_int_equal(w.delivered, 5);
  assert_true(Marks(s, "a", "bob", &w).ok());
  assert_int_equal(w.read, 0);
  assert_int_equal(w.delivered, 0);
  assert_true(Marks(s, "b", "alice", &w).ok());
  assert_int_equal(w.read, 0);
  // A channel without messages: head 0, nothing can advance.
  assert_true(Advance(s, "empty", "alice", chat::ReceiptKind::kRead, 3, &w, &advanced).ok());
  assert_false(advanced);
  assert_int_equal(w.read, 0);
  assert_int_equal(w.delivered, 0);
}

void test_epoch_stable(void** state) {
  Store* s = F(state).store.get();
  const std::string e = EpochOf(s, "a");
  Accept(s, "a", 1, kT0);
  Accept(s, "a", 2, kT0);
  assert_true(EpochOf(s, "a") == e);
  assert_true(EpochOf(s, "a") == e);
}

void test_state_across_ticks(void** state) {
  // The broker calls PollCompletions() at every loop iteration; a store may
  // commit then. Nothing observable may change because of it.
  Fixture& f = F(state);
  Store* s = f.store.get();
  assert_int_equal(Accept(s, "a", 1, kT0), 1);
  s->PollCompletions();
  assert_int_equal(Accept(s, "a", 2, kT0), 2);
  s->PollCompletions();
  s->PollCompletions();
  AppendResult r = Append(s, "a", Msg(Id(1), "x"), kT0 + 1);
  assert_int_equal(r.status, AppendStatus::kDuplicate);
  assert_int_equal(r.seq, 1);
  s->PollCompletions();
  bool first = false;
  assert_true(s->ClaimTokenId("j", kT0 + 1000, kT0, &first).ok());
  assert_true(first);
  s->PollCompletions();
  assert_true(s->ClaimTokenId("j", kT0 + 1000, kT0 + 1, &first).ok());
  assert_false(first);
  chat::Watermarks w;
  bool advanced = false;
  assert_true(Advance(s, "a", "bob", chat::ReceiptKind::kRead, 2, &w, &advanced).ok());
  s->PollCompletions();
  assert_true(Marks(s, "a", "bob", &w).ok());
  assert_int_equal(w.read, 2);
  assert_int_equal(HeadOf(s, "a"), 2);
  ExpectSeqs(Read(s, "a", 0, 10, kT0 + 2), {1, 2});
  const std::string epoch = EpochOf(s, "a");
  s->PollCompletions();
  assert_true(EpochOf(s, "a") == epoch);
  assert_int_equal(Accept(s, "a", 3, kT0 + 3), 3);
}

// ------------------------------------------------------------------ MemoryStore only

std::string TempDir() {
  char tmpl[] = "/tmp/chat_memory_store_XXXXXX";
  assert_non_null(::mkdtemp(tmpl));
  return tmpl;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  assert_true(out.good());
}

void test_memory_catalog_reopen(void**) {
  const std::string dir = TempDir();
  const std::string path = dir + "/channels.json";
  StoreSettings settings;
  {
    std::unique_ptr<Store> s;
    assert_true(chat::MemoryStore::Open(settings, path, &s).ok());
    assert_true(s->SaveChannel(Channel("room1", {"a", "b"})).ok());
    assert_true(s->SaveChannel(Channel("room2", {}, ChannelType::kOpen)).ok());
    Accept(s.get(), "room1", 1, kT0);
  }
  std::unique_ptr<Store> s;
  assert_true(chat::MemoryStore::Open(settings, path, &s).ok());
  std::vector<ChannelConfig> all = Channels(s.get());
  assert_int_equal(all.size(), 2);
  assert_true(all[0] == Channel("room1", {"a", "b"}));
  assert_true(all[1] == Channel("room2", {}, ChannelType::kOpen));
  // Chat state is not persisted by the memory store.
  assert_int_equal(HeadOf(s.get(), "room1"), 0);
  std::filesystem::remove_all(dir);
}

void test_memory_catalog_missing_is_empty(void**) {
  const std::string dir = TempDir();
  std::unique_ptr<Store> s;
  assert_true(chat::MemoryStore::Open(StoreSettings{}, dir + "/absent.json", &s).ok());
  assert_non_null(s.get());
  assert_true(Channels(s.get()).empty());
  // Nothing written until a channel is saved.
  assert_false(std::filesystem::exists(dir + "/absent.json"));
  assert_true(s->SaveChannel(Channel("x", {"u"})).ok());
  assert_true(std::filesystem::exists(dir + "/absent.json"));
  std::filesystem::remove_all(dir);
}

void ExpectCorrupt(const std::string& text) {
  const std::string dir = TempDir();
  const std::string path = dir + "/channels.json";
  WriteFile(path, text);
  std::unique_ptr<Store> s;
  Status st = chat::MemoryStore::Open(StoreSettings{}, path, &s);
  if (st.ok()) fail_msg("opened a corrupt catalog: %s", text.c_str());
  assert_int_equal(st.code(), Status::Code::kCorruption);
  assert_null(s.get());
  // The corrupt file is left alone for the operator.
  std::ifstream in(path, std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  assert_true(back == text);
  std::filesystem::remove_all(dir);
}

void test_memory_catalog_corrupt(void**) {
  ExpectCorrupt("");
  ExpectCorrupt("not json at all");
  ExpectCorrupt("{\"version\":1,\"channels\":{\"a\":{\"type\":\"group\",\"members\":[\"x\"]}}");  // truncated
  ExpectCorrupt("[]");
  ExpectCorrupt("{\"version\":1}");
  ExpectCorrupt("{\"version\":1,\"channels\":[]}");
  ExpectCorrupt("{\"version\":1,\"channels\":{\"a\":{\"type\":\"bogus\"}}}");
  ExpectCorrupt("{\"version\":1,\"channels\":{\"bad$id\":{\"type\":\"open\"}}}");
}

void test_memory_catalog_unreadable(void**) {
  // A catalog path that is a directory cannot be read: the open fails.
  const std::string dir = TempDir();
  std::filesystem::create_directory(dir + "/channels.json");
  std::unique_ptr<Store> s;
  Status st = chat::MemoryStore::Open(StoreSettings{}, dir + "/channels.json", &s);
  assert_false(st.ok());
  assert_null(s.get());
  std::filesystem::remove_all(dir);
}

void test_memory_catalog_write_failure_rolls_back(void**) {
  const std::string dir = TempDir();
  const std::string sub = dir + "/sub";
  std::filesystem::create_directory(sub);
  std::unique_ptr<Store> s;
  assert_true(chat::MemoryStore::Open(StoreSettings{}, sub + "/channels.json", &s).ok());
  assert_true(s->SaveChannel(Channel("keep", {"u"})).ok());
  std::filesystem::remove_all(sub);  // every later write fails
  Status st = s->SaveChannel(Channel("new", {"u"}));
  assert_false(st.ok());
  st = s->SaveChannel(Channel("keep", {"other"}));
  assert_false(st.ok());
  st = s->DeleteChannel("keep");
  assert_false(st.ok());
  std::vector<ChannelConfig> all = Channels(s.get());
  assert_int_equal(all.size(), 1);
  assert_true(all[0] == Channel("keep", {"u"}));
  std::filesystem::remove_all(dir);
}

void test_memory_without_catalog(void**) {
  std::unique_ptr<Store> s;
  assert_true(chat::MemoryStore::Open(StoreSettings{}, "", &s).ok());
  assert_true(s->SaveChannel(Channel("a", {"u"})).ok());
  assert_int_equal(Channels(s.get()).size(), 1);
  std::unique_ptr<Store> t;
  assert_true(chat::MemoryStore::Open(StoreSettings{}, "", &t).ok());
  assert_true(Channels(t.get()).empty());
}

// ------------------------------------------------------------------ runner

using TestFn = void (*)(void**);
struct ContractTest {
  const char* name;
  TestFn fn;
};
#define CONTRACT(fn) ContractTest{#fn, fn}
const ContractTest kContract[] = {
    CONTRACT(test_seq_per_channel),
    CONTRACT(test_duplicate_inside_window),
    CONTRACT(test_dedup_window_edge),
    CONTRACT(test_dedup_window_is_per_message),
    CONTRACT(test_history_paging),
    CONTRACT(test_history_keeps_publisher),
    CONTRACT(test_retention_by_count),
    CONTRACT(test_retention_by_age),
    CONTRACT(test_max_count_zero),
    CONTRACT(test_claim_token_id),
    CONTRACT(test_claim_token_id_many),
    CONTRACT(test_channels_save_load_delete),
    CONTRACT(test_delete_resets_channel_state),
    CONTRACT(test_delete_without_config_resets_state),
    CONTRACT(test_channels_survive_reopen),
    CONTRACT(test_reopen_keeps_or_restarts_sequence),
    CONTRACT(test_watermarks),
    CONTRACT(test_epoch_stable),
    CONTRACT(test_state_across_ticks),
};
#undef CONTRACT

}  // namespace

int main() {
  int failures = 0;
  for (const StoreFactory& factory : Factories()) {
    std::vector<std::string> names;
    names.reserve(std::size(kContract));
    for (const ContractTest& t : kContract) names.push_back(std::string(factory.name) + "." + t.name);
    std::vector<CMUnitTest> tests;
    for (size_t i = 0; i < std::size(kContract); ++i) {
      CMUnitTest t{};
      t.name = names[i].c_str();
      t.test_func = kContract[i].fn;
      t.setup_func = Setup;
      t.teardown_func = Teardown;
      t.initial_state = const_cast<StoreFactory*>(&factory);
      tests.push_back(t);
    }
    const std::string group = std::string("store contract: ") + factory.name;
    failures += _cmocka_run_group_tests(group.c_str(), tests.data(), tests.size(), nullptr, nullptr);
  }
  const struct CMUnitTest memory_only[] = {
      cmocka_unit_test(test_memory_catalog_reopen),
      cmocka_unit_test(test_memory_catalog_missing_is_empty),
      cmocka_unit_test(test_memory_catalog_corrupt),
      cmocka_unit_test(test_memory_catalog_unreadable),
      cmocka_unit_test(test_memory_catalog_write_failure_rolls_back),
      cmocka_unit_test(test_memory_without_catalog),
  };
  failures += cmocka_run_group_tests_name("MemoryStore", memory_only, nullptr, nullptr);
  return failures;
}
