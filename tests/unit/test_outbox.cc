// The local store's outbox: acceptance order, paging, removal, durability
// across reopening, and a second thread reading and removing while the
// broker thread adds.
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "chat/local_store.h"
#include "chat/memory_store.h"
#include "chat/outbox.h"
#include "cmocka_wrap.h"

using namespace chat;

namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/chat-outbox-XXXXXX";
  char* d = mkdtemp(tmpl);
  assert_non_null(d);
  return std::string(d) + "/store";
}

// The store's clock: everysec commits its group transaction only at a tick
// at least 20 ms after the transaction began, so tests move it explicitly.
FakeEnv clock_env(1700000000000);

// A broker tick after enough time for everysec to commit.
void Tick(Store* s) {
  clock_env.AdvanceMs(25);
  s->PollCompletions();
}

std::unique_ptr<Store> Open(const std::string& dir, FsyncMode fsync) {
  LocalStoreOptions o;
  o.dir = dir;
  o.fsync = fsync;
  o.map_size_bytes = uint64_t{1} << 30;
  std::unique_ptr<Store> s;
  StoreSettings settings;
  settings.env = &clock_env;
  Status st = OpenLocalStore(o, settings, &s);
  assert_true(st.ok());
  return s;
}

uint64_t Add(Outbox* box, const std::string& channel, int n) {
  ClientMessage m;
  m.id = "outbox-id-" + std::to_string(1000 + n);
  m.ts = 1;
  m.fields.packed = std::string("\xa4") + "body" + std::string("\xa1") + std::to_string(n % 10);
  m.fields.count = 1;
  AppendRequest r;
  r.channel = channel;
  r.message = &m;
  r.from = "alice";
  r.now_ms = 1700000000000 + n;
  uint64_t pos = 0;
  assert_true(box->OutboxAdd(r, &pos).ok());
  return pos;
}

std::vector<OutboxEntry> ReadAll(Outbox* box, uint64_t after = 0) {
  std::vector<OutboxEntry> out;
  assert_true(box->OutboxRead(after, 1000, &out).ok());
  return out;
}

void test_order_paging_and_removal(void**) {
  for (FsyncMode mode : {FsyncMode::kAlways, FsyncMode::kEverySec}) {
    auto store = Open(TempDir(), mode);
    Outbox* box = store->GetOutbox();
    assert_non_null(box);
    for (int i = 1; i <= 5; ++i) assert_int_equal(Add(box, i % 2 ? "odd" : "even", i), i);
    Tick(store.get());  // everysec: commit
    auto all = ReadAll(box);
    assert_int_equal(all.size(), 5);
    for (int i = 0; i < 5; ++i) {
      assert_int_equal(all[i].position, i + 1);
      assert_string_equal(all[i].channel.c_str(), (i + 1) % 2 ? "odd" : "even");
      assert_string_equal(all[i].message.id.c_str(), ("outbox-id-" + std::to_string(1001 + i)).c_str());
      assert_string_equal(all[i].message.from.c_str(), "alice");
      assert_int_equal(all[i].message.sts, 1700000000000 + i + 1);
      assert_int_equal(all[i].message.seq, 0);
      assert_int_equal(all[i].message.fields.count, 1);
    }
    std::vector<OutboxEntry> page;
    assert_true(box->OutboxRead(2, 2, &page).ok());
    assert_int_equal(page.size(), 2);
    assert_int_equal(page[0].position, 3);
    assert_int_equal(page[1].position, 4);

    assert_true(box->OutboxRemove(3).ok());
    all = ReadAll(box);
    assert_int_equal(all.size(), 2);
    assert_int_equal(all[0].position, 4);
    uint64_t n = 0;
    assert_true(box->OutboxSize(&n).ok());
    assert_int_equal(n, 2);
    // Positions keep growing after removals.
    assert_int_equal(Add(box, "odd", 6), 6);
  }
}

void test_survives_reopening(void**) {
  const std::string dir = TempDir();
  {
    auto store = Open(dir, FsyncMode::kEverySec);
    for (int i = 1; i <= 3; ++i) Add(store->GetOutbox(), "room", i);
    Tick(store.get());
    assert_true(store->GetOutbox()->OutboxRemove(1).ok());
  }
  auto store = Open(dir, FsyncMode::kEverySec);
  auto all = ReadAll(store->GetOutbox());
  assert_int_equal(all.size(), 2);
  assert_int_equal(all[0].position, 2);
  assert_int_equal(Add(store->GetOutbox(), "room", 4), 4);
}

void test_another_thread_sees_committed_entries_only(void**) {
  auto store = Open(TempDir(), FsyncMode::kEverySec);
  Outbox* box = store->GetOutbox();
  Add(box, "room", 1);
  std::vector<OutboxEntry> seen;
  std::thread([&] { seen = ReadAll(box); }).join();
  assert_int_equal(seen.size(), 0);  // not committed yet
  store->PollCompletions();           // a tick within 20 ms: still open
  std::thread([&] { seen = ReadAll(box); }).join();
  assert_int_equal(seen.size(), 0);
  Tick(store.get());
  std::thread([&] { seen = ReadAll(box); }).join();
  assert_int_equal(seen.size(), 1);
}

void test_concurrent_drain_loses_nothing(void**) {
  auto store = Open(TempDir(), FsyncMode::kEverySec);
  Outbox* box = store->GetOutbox();
  constexpr int kTotal = 2000;
  std::atomic<bool> done{false};
  std::vector<uint64_t> drained;
  std::thread drainer([&] {
    uint64_t after = 0;
    while (true) {
      const bool last_round = done.load();
      std::vector<OutboxEntry> page;
      assert_true(box->OutboxRead(after, 100, &page).ok());
      for (const auto& e : page) drained.push_back(e.position);
      if (!page.empty()) {
        after = page.back().position;
        assert_true(box->OutboxRemove(after).ok());
      } else if (last_round) {
        break;
      }
    }
  });
  for (int i = 1; i <= kTotal; ++i) {
    Add(box, "room", i);
    if (i % 25 == 0) Tick(store.get());
  }
  Tick(store.get());
  done = true;
  drainer.join();
  assert_int_equal(drained.size(), kTotal);
  for (int i = 0; i < kTotal; ++i) assert_int_equal(drained[i], i + 1);
  uint64_t left = 99;
  assert_true(box->OutboxSize(&left).ok());
  assert_int_equal(left, 0);
}

void test_memory_store_has_no_outbox(void**) {
  std::unique_ptr<Store> s;
  assert_true(MemoryStore::Open(StoreSettings{}, "", &s).ok());
  assert_null(s->GetOutbox());
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_paging_and_removal),
      cmocka_unit_test(test_survives_reopening),
      cmocka_unit_test(test_another_thread_sees_committed_entries_only),
      cmocka_unit_test(test_concurrent_drain_loses_nothing),
      cmocka_unit_test(test_memory_store_has_no_outbox),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
