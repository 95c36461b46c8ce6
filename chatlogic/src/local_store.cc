#include "chat/local_store.h"

#include "chat/immediate_store.h"
#include "chat/stored_message_codec.h"

#include <lmdb.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <msgpack.hpp>
#include <mutex>
#include <thread>

#include "chat/hex.h"
#include "chat/outbox.h"

namespace chat {
namespace {

// Key layout. Channel-scoped keys are "<channel>\0<suffix>"; ids never hold NUL.
std::string Be64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
  return s;
}
uint64_t ReadBe64(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}
std::string ChKey(std::string_view ch, std::string_view suffix) {
  std::string k;
  k.reserve(ch.size() + 1 + suffix.size());
  k.append(ch).push_back('\0');
  k.append(suffix);
  return k;
}
MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view View(const MDB_val& v) { return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size); }


Status LmdbError(const std::string& what, int rc) {
  std::string msg = what + ": " + mdb_strerror(rc);
  if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH || rc == MDB_PAGE_NOTFOUND) {
    return Status::Corruption(msg);
  }
  if (rc == MDB_MAP_FULL || rc == ENOSPC) return Status::IOError(msg + " (store full)");
  return Status::IOError(msg);
}

constexpr size_t kPurgePerTick = 1000;
constexpr int64_t kGroupCommitMs = 20;

}  // namespace

class LocalStore final : public ImmediateStore, public Outbox {
 public:
  LocalStore(const LocalStoreOptions& options, const StoreSettings& settings)
      : options_(options), settings_(settings) {}
  ~LocalStore() override;

  Status Open();

  AppendResult Append(const AppendRequest& request, AppendCallback later) override;
  Status ClaimTokenId(std::string_view jti, int64_t expires_ms, int64_t now_ms, bool* first_use) override;
  Status SaveChannel(const ChannelConfig& config) override;
  Status DeleteChannel(std::string_view id) override;
  Status LoadChannels(std::vector<ChannelConfig>* out) override;
  Status Head(std::string_view channel, uint64_t* head) override;
  Status ReadHistory(std::string_view channel, uint64_t after, size_t limit, int64_t now_ms,
                     const HistoryLimits& limits, std::vector<StoredMessage>* out, uint64_t* first_kept) override;
  Status AdvanceWatermarkNow(std::string_view channel, std::string_view user, ReceiptKind kind, uint64_t upto,
                          Watermarks* now, bool* advanced) override;
  Status GetWatermarks(std::string_view channel, std::string_view user, Watermarks* out) override;
  Status Epoch(std::string_view channel, std::string* epoch) override;
  Status PollCompletions() override;

  Outbox* GetOutbox() override { return this; }
  Status OutboxAdd(const AppendRequest& request, uint64_t* position) override;
  Status OutboxRead(uint64_t after, size_t limit, std::vector<OutboxEntry>* out) override;
  Status OutboxRemove(uint64_t upto) override;
  Status OutboxSize(uint64_t* entries) override;

 private:
  // One state change: a transaction of its own (always, or after a failed
  // group commit), else a child of the open group transaction.
  class Write {
   public:
    explicit Write(LocalStore* store) : store_(store) {}
    ~Write() {
      if (txn_ != nullptr) mdb_txn_abort(txn_);
    }
    Status Begin() {
      MDB_txn* parent = nullptr;
      if (store_->Batching()) {
        if (Status s = store_->EnsureGroup(); !s.ok()) return s;
        parent = store_->group_;
      }
      int rc = mdb_txn_begin(store_->env_, parent, 0, &txn_);
      if (rc != 0) {
        txn_ = nullptr;
        return LmdbError("begin transaction", rc);
      }
      return Status::Ok();
    }
    MDB_txn* txn() const { return txn_; }
    Status Commit() {
      int rc = mdb_txn_commit(txn_);
      txn_ = nullptr;
      if (rc != 0) {
        store_->OnCommitFailure();
        return LmdbError("commit", rc);
      }
      if (!store_->Batching()) store_->OnCommitSuccess();
      return Status::Ok();
    }

   private:
    LocalStore* store_;
    MDB_txn* txn_ = nullptr;
  };

  // Reads see the open group transaction's changes.
  class Read {
   public:
    explicit Read(LocalStore* store) {
      if (store->group_ != nullptr) {
        txn_ = store->group_;
      } else {
        rc_ = mdb_txn_begin(store->env_, nullptr, MDB_RDONLY, &txn_);
        owned_ = rc_ == 0;
      }
    }
    ~Read() {
      if (owned_) mdb_txn_abort(txn_);
    }
    int rc() const { return rc_; }
    MDB_txn* txn() const { return txn_; }

   private:
    MDB_txn* txn_ = nullptr;
    int rc_ = 0;
    bool owned_ = false;
  };

  bool Batching() const { return options_.fsync == FsyncMode::kEverySec && !degraded_; }
  Status EnsureGroup();
  Status CommitGroup();
  void OnCommitFailure();
  void OnCommitSuccess();
  void SyncLoop();

  int Get(MDB_txn* t, MDB_dbi db, std::string_view key, std::string_view* value);
  static uint64_t GetU64(MDB_txn* t, MDB_dbi db, std::string_view key, uint64_t fallback);
  Status PutU64(MDB_txn* t, MDB_dbi db, std::string_view key, uint64_t v);
  Status Put(MDB_txn* t, MDB_dbi db, std::string_view key, std::string_view v, unsigned flags = 0);
  Status EnsureEpoch(MDB_txn* t, std::string_view channel, std::string* epoch);
  Status TrimHistory(MDB_txn* t, std::string_view channel, uint64_t head, int64_t now_ms, const HistoryLimits& limits,
                     uint64_t* low);
  Status DeletePrefix(MDB_txn* t, MDB_dbi db, std::string_view prefix);
  // Drops up to kPurgePerTick entries whose expiry (the index key's first 8
  // bytes) has passed.
  Status PurgeExpired(MDB_txn* t, MDB_dbi index, MDB_dbi primary, int64_t now_ms);

  LocalStoreOptions options_;
  StoreSettings settings_;
  MDB_env* env_ = nullptr;
  MDB_dbi meta_ = 0, hist_ = 0, dedup_ = 0, dedup_exp_ = 0, marks_ = 0, tokens_ = 0, tokens_exp_ = 0, channels_ = 0, outbox_ = 0;
  MDB_txn* group_ = nullptr;  // kEverySec: the open write transaction
  bool degraded_ = false;     // a group commit failed: commit every change on its own until one succeeds
  int64_t next_purge_ms_ = 0;
  int64_t group_started_ms_ = 0;  // when the open group transaction began
  int lock_fd_ = -1;          // exclusive lock: one broker per store directory

  std::thread syncer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

Status OpenLocalStore(const LocalStoreOptions& options, const StoreSettings& settings, std::unique_ptr<Store>* out) {
  auto store = std::make_unique<LocalStore>(options, settings);
  if (Status s = store->Open(); !s.ok()) return s;
  *out = std::move(store);
  return Status::Ok();
}

Status LocalStore::Open() {
  if (::mkdir(options_.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IOError("cannot create " + options_.dir + ": " + std::strerror(errno));
  }
  const std::string lock_path = options_.dir + "/owner.lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return Status::IOError("cannot open " + lock_path + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::IOError("the local store in " + options_.dir + " is in use by another process");
  }
  int rc = mdb_env_create(&env_);
  if (rc != 0) return LmdbError("lmdb", rc);
  mdb_env_set_maxdbs(env_, 16);
  mdb_env_set_mapsize(env_, options_.map_size_bytes);
  unsigned flags = MDB_NOTLS;
  if (options_.fsync == FsyncMode::kEverySec) flags |= MDB_NOSYNC;
  rc = mdb_env_open(env_, options_.dir.c_str(), flags, 0600);
  if (rc != 0) {
    mdb_env_close(env_);
    env_ = nullptr;
    return LmdbError("cannot open the local store in " + options_.dir, rc);
  }
  MDB_txn* t = nullptr;
  rc = mdb_txn_begin(env_, nullptr, 0, &t);
  if (rc != 0) return LmdbError("cannot open the local store in " + options_.dir, rc);
  struct Named {
    const char* name;
    MDB_dbi* dbi;
  } dbs[] = {{"meta", &meta_},         {"history", &hist_}, {"dedup", &dedup_},
             {"dedup_expiry", &dedup_exp_}, {"watermarks", &marks_}, {"tokens", &tokens_},
             {"token_expiry", &tokens_exp_}, {"channels", &channels_}, {"outbox", &outbox_}};
  for (const auto& d : dbs) {
    rc = mdb_dbi_open(t, d.name, MDB_CREATE, d.dbi);
    if (rc != 0) {
      mdb_txn_abort(t);
      return LmdbError(std::string("the local store in ") + options_.dir + " is not usable (table " + d.name + ")", rc);
    }
  }
  rc = mdb_txn_commit(t);
  if (rc != 0) return LmdbError("cannot initialise the local store in " + options_.dir, rc);
  // Check every channel document now: a damaged store must stop the broker.
  std::vector<ChannelConfig> channels;
  if (Status s = LoadChannels(&channels); !s.ok()) return s;
  if (options_.fsync == FsyncMode::kEverySec) syncer_ = std::thread([this] { SyncLoop(); });
  return Status::Ok();
}

LocalStore::~LocalStore() {
  if (syncer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    syncer_.join();
  }
  if (env_ != nullptr) {
    CommitGroup();
    mdb_env_sync(env_, 1);
    mdb_env_close(env_);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void LocalStore::SyncLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    lock.unlock();
    mdb_env_sync(env_, 1);  // fdatasync of what committed transactions wrote
    lock.lock();
  }
}

Status LocalStore::EnsureGroup() {
  if (group_ != nullptr) return Status::Ok();
  int rc = mdb_txn_begin(env_, nullptr, 0, &group_);
  if (rc != 0) {
    group_ = nullptr;
    return LmdbError("begin transaction", rc);
  }
  group_started_ms_ = (settings_.env ? settings_.env : Env::Default())->NowMs();
  return Status::Ok();
}

Status LocalStore::CommitGroup() {
  if (group_ == nullptr) return Status::Ok();
  int rc = mdb_txn_commit(group_);
  group_ = nullptr;
  if (rc != 0) {
    OnCommitFailure();
    return LmdbError("commit", rc);
  }
  return Status::Ok();
}

void LocalStore::OnCommitFailure() { degraded_ = options_.fsync == FsyncMode::kEverySec; }
void LocalStore::OnCommitSuccess() { degraded_ = false; }

Status LocalStore::PollCompletions() {
  const int64_t now_ms = (settings_.env ? settings_.env : Env::Default())->NowMs();
  const bool had_group = group_ != nullptr;
  if (now_ms >= next_purge_ms_) {
    next_purge_ms_ = now_ms + 1000;
    Write w(this);
    if (w.Begin().ok()) {
      PurgeExpired(w.txn(), dedup_exp_, dedup_, now_ms);
      PurgeExpired(w.txn(), tokens_exp_, tokens_, now_ms);
      w.Commit();
    }
  }
  // Under load every loop iteration carries only a few messages: committing
  // at most every kGroupCommitMs keeps one commit's page writes from being
  // paid per message. Still far inside everysec's "about a second".
  // A group opened by the purge above holds nothing acknowledged: commit it
  // now rather than hold the write lock until a later tick.
  if (had_group && now_ms - group_started_ms_ < kGroupCommitMs) return Status::Ok();
  return CommitGroup();
}

int LocalStore::Get(MDB_txn* t, MDB_dbi db, std::string_view key, std::string_view* value) {
  MDB_val k = Val(key), v;
  int rc = mdb_get(t, db, &k, &v);
  if (rc == 0) *value = View(v);
  return rc;
}

uint64_t LocalStore::GetU64(MDB_txn* t, MDB_dbi db, std::string_view key, uint64_t fallback) {
  MDB_val k = Val(key), v;
  if (mdb_get(t, db, &k, &v) != 0 || v.mv_size != 8) return fallback;
  return ReadBe64(v.mv_data);
}

Status LocalStore::Put(MDB_txn* t, MDB_dbi db, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = Val(key), v = Val(value);
  int rc = mdb_put(t, db, &k, &v, flags);
  return rc == 0 ? Status::Ok() : LmdbError("write", rc);
}

Status LocalStore::PutU64(MDB_txn* t, MDB_dbi db, std::string_view key, uint64_t v) {
  return Put(t, db, key, Be64(v));
}

Status LocalStore::EnsureEpoch(MDB_txn* t, std::string_view channel, std::string* epoch) {
  std::string key = ChKey(channel, "epoch");
  std::string_view v;
  if (Get(t, meta_, key, &v) == 0) {
    if (epoch) *epoch = std::string(v);
    return Status::Ok();
  }
  const std::string e = RandomHex(settings_.env, 8);
  if (epoch) *epoch = e;
  return Put(t, meta_, key, e);
}

Status LocalStore::TrimHistory(MDB_txn* t, std::string_view channel, uint64_t head, int64_t now_ms,
                               const HistoryLimits& limits, uint64_t* low_out) {
  const std::string low_key = ChKey(channel, "low");
  uint64_t low = GetU64(t, meta_, low_key, 1);
  const uint64_t original = low;
  while (low <= head && head - low + 1 > limits.max_count) {
    const std::string key = ChKey(channel, Be64(low));  // must outlive k
    MDB_val k = Val(key);
    int rc = mdb_del(t, hist_, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("trim history", rc);
    ++low;
  }
  if (limits.max_age_ms > 0) {
    const int64_t oldest = now_ms - limits.max_age_ms;
    while (low <= head) {
      std::string key = ChKey(channel, Be64(low));
      std::string_view v;
      if (Get(t, hist_, key, &v) == 0) {
        StoredMessage m;
        if (DecodeStored(v, low, &m) && static_cast<int64_t>(m.sts) >= oldest) break;
        MDB_val k = Val(key);
        int rc = mdb_del(t, hist_, &k, nullptr);
        if (rc != 0) return LmdbError("trim history", rc);
      }
      ++low;
    }
  }
  if (low != original) {
    if (Status s = PutU64(t, meta_, low_key, low); !s.ok()) return s;
  }
  *low_out = low;
  return Status::Ok();
}

AppendResult LocalStore::Append(const AppendRequest& req, AppendCallback /*later*/) {
  Write w(this);
  if (Status s = w.Begin(); !s.ok()) return {AppendStatus::kFailed, 0, s};
  MDB_txn* t = w.txn();
  const ClientMessage& msg = *req.message;
  const std::string dedup_key = ChKey(req.channel, msg.id);
  std::string_view found;
  if (Get(t, dedup_, dedup_key, &found) == 0 && found.size() == 16 &&
      static_cast<int64_t>(ReadBe64(found.data() + 8)) > req.now_ms) {
    return {AppendStatus::kDuplicate, ReadBe64(found.data()), Status::Ok()};
  }
  const std::string head_key = ChKey(req.channel, "head");
  const uint64_t seq = GetU64(t, meta_, head_key, 0) + 1;
  const int64_t expires = req.now_ms + settings_.dedup_window_ms;
  const StoredMessage stored = MakeStoredMessage(req, seq);
  Status s = PutU64(t, meta_, head_key, seq);
  if (s.ok() && seq == 1) s = EnsureEpoch(t, req.channel, nullptr);
  if (s.ok()) s = Put(t, dedup_, dedup_key, Be64(seq) + Be64(static_cast<uint64_t>(expires)));
  if (s.ok()) s = Put(t, dedup_exp_, Be64(static_cast<uint64_t>(expires)) + dedup_key, {});
  if (s.ok() && req.limits.max_count > 0) {
    s = Put(t, hist_, ChKey(req.channel, Be64(seq)), EncodeStored(stored));
  }
  uint64_t low = 0;
  if (s.ok()) s = TrimHistory(t, req.channel, seq, req.now_ms, req.limits, &low);
  if (s.ok()) s = w.Commit();
  if (!s.ok()) return {AppendStatus::kFailed, 0, s};
  return {AppendStatus::kAccepted, seq, Status::Ok()};
}

Status LocalStore::PurgeExpired(MDB_txn* t, MDB_dbi index, MDB_dbi primary, int64_t now_ms) {
  MDB_cursor* c = nullptr;
  if (mdb_cursor_open(t, index, &c) != 0) return Status::IOError("cursor");
  MDB_val k, v;
  size_t done = 0;
  int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  while (rc == 0 && done < kPurgePerTick && k.mv_size >= 8) {
    const uint64_t expires = ReadBe64(k.mv_data);
    if (static_cast<int64_t>(expires) > now_ms) break;
    std::string_view primary_key = View(k).substr(8);
    std::string_view current;
    // Drop the primary entry only if it still carries this expiry (it may
    // have been renewed by a later acceptance).
    if (Get(t, primary, primary_key, &current) == 0 && current.size() >= 8 &&
        ReadBe64(current.data() + current.size() - 8) == expires) {
      MDB_val pk = Val(primary_key);
      mdb_del(t, primary, &pk, nullptr);
    }
    mdb_cursor_del(c, 0);
    ++done;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  return Status::Ok();
}

Status LocalStore::ClaimTokenId(std::string_view jti, int64_t expires_ms, int64_t now_ms, bool* first_use) {
  Write w(this);
  if (Status s = w.Begin(); !s.ok()) return s;
  std::string_view found;
  if (Get(w.txn(), tokens_, jti, &found) == 0 && found.size() == 8 &&
      static_cast<int64_t>(ReadBe64(found.data())) >= now_ms) {
    *first_use = false;
    return Status::Ok();
  }
  Status s = PutU64(w.txn(), tokens_, jti, static_cast<uint64_t>(expires_ms));
  if (s.ok()) s = Put(w.txn(), tokens_exp_, Be64(static_cast<uint64_t>(expires_ms)) + std::string(jti), {});
  if (s.ok()) s = w.Commit();
  if (!s.ok()) return s;
  *first_use = true;
  return Status::Ok();
}

Status LocalStore::SaveChannel(const ChannelConfig& config) {
  Write w(this);
  if (Status s = w.Begin(); !s.ok()) return s;
  Status s = Put(w.txn(), channels_, config.id, ToChannelDocument(config));
  if (s.ok()) s = w.Commit();
  return s;
}

Status LocalStore::DeletePrefix(MDB_txn* t, MDB_dbi db, std::string_view prefix) {
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(t, db, &c);
  if (rc != 0) return LmdbError("cursor", rc);
  MDB_val k = Val(prefix), v;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && View(k).starts_with(prefix)) {
    rc = mdb_cursor_del(c, 0);
    if (rc != 0) break;
    rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    if (rc == EINVAL) rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  return rc == 0 || rc == MDB_NOTFOUND ? Status::Ok() : LmdbError("delete", rc);
}

Status LocalStore::DeleteChannel(std::string_view id) {
  Write w(this);
  if (Status s = w.Begin(); !s.ok()) return s;
  MDB_val k = Val(id);
  int rc = mdb_del(w.txn(), channels_, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("delete channel", rc);
  const std::string prefix = ChKey(id, {});
  Status s = DeletePrefix(w.txn(), meta_, prefix);
  if (s.ok()) s = DeletePrefix(w.txn(), hist_, prefix);
  if (s.ok()) s = DeletePrefix(w.txn(), dedup_, prefix);
  if (s.ok()) s = DeletePrefix(w.txn(), marks_, prefix);
  if (s.ok()) s = w.Commit();
  return s;
}

Status LocalStore::LoadChannels(std::vector<ChannelConfig>* out) {
  out->clear();
  Read r(this);
  if (r.rc() != 0) return LmdbError("read", r.rc());
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(r.txn(), channels_, &c);
  if (rc != 0) return LmdbError("read channels", rc);
  MDB_val k, v;
  ChannelDocLimits limits;
  limits.max_members = SIZE_MAX;
  Status result;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    ChannelConfig config;
    Status s = ParseChannelDocument(View(k), View(v), limits, &config);
    if (!s.ok()) {
      result = Status::Corruption("local store: channel '" + std::string(View(k)) + "': " + s.message());
      break;
    }
    out->push_back(std::move(config));
  }
  mdb_cursor_close(c);
  return result;
}

Status LocalStore::Head(std::string_view channel, uint64_t* head) {
  Read r(this);
  if (r.rc() != 0) return LmdbError("read", r.rc());
  *head = GetU64(r.txn(), meta_, ChKey(channel, "head"), 0);
  return Status::Ok();
}

Status LocalStore::ReadHistory(std::string_view channel, uint64_t after, size_t limit, int64_t now_ms,
                               const HistoryLimits& limits, std::vector<StoredMessage>* out, uint64_t* first_kept) {
  out->clear();
  Write w(this);
  if (Status s = w.Begin(); !s.ok()) return s;
  const uint64_t head = GetU64(w.txn(), meta_, ChKey(channel, "head"), 0);
  uint64_t low = 1;
  if (Status s = TrimHistory(w.txn(), channel, head, now_ms, limits, &low); !s.ok()) return s;
  *first_kept = std::min(low, head + 1);
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(w.txn(), hist_, &c);
  if (rc != 0) return LmdbError("read history", rc);
  const std::string prefix = ChKey(channel, {});
  std::string start = ChKey(channel, Be64(std::max(after + 1, low)));
  MDB_val k = Val(start), v;
  Status result;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && out->size() < limit;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    std::string_view key = View(k);
    if (!key.starts_with(prefix) || key.size() != prefix.size() + 8) break;
    StoredMessage m;
    if (!DecodeStored(View(v), ReadBe64(key.data() + prefix.size()), &m)) {
      result = Status::Corruption("local store: unreadable history entry in channel '" + std::string(channel) + "'");
      break;
    }
    out->push_back(std::move(m));
  }
  mdb_cursor_close(c);
  if (result.ok()) result = w.Commit();
  return result;
}

Status LocalStore::AdvanceWatermarkNow(std::string_view channel, std::string_view user, ReceiptKind kind, uint64_t upto,
                                    Watermarks* now, bool* advanced) {
  Write w(this);
  if (Status s = w.Begin(); !s.ok()) return s;
  const uint64_t head = GetU64(w.txn(), meta_, ChKey(channel, "head"), 0);
  const std::string key = ChKey(channel, user);
  Watermarks m;
  std::string_view found;
  if (Get(w.txn(), marks_, key, &found) == 0 && found.size() == 16) {
    m.read = ReadBe64(found.data());
    m.delivered = ReadBe64(found.data() + 8);
  }
  const uint64_t target = std::min(upto, head);
  uint64_t& mark = kind == ReceiptKind::kRead ? m.read : m.delivered;
  *advanced = target > mark;
  mark = std::max(mark, target);
  m.delivered = std::max(m.delivered, m.read);
  *now = m;
  if (!*advanced) return Status::Ok();
  Status s = Put(w.txn(), marks_, key, Be64(m.read) + Be64(m.delivered));
  if (s.ok()) s = w.Commit();
  return s;
}

Status LocalStore::GetWatermarks(std::string_view channel, std::string_view user, Watermarks* out) {
  *out = Watermarks{};
  Read r(this);
  if (r.rc() != 0) return LmdbError("read", r.rc());
  std::string_view found;
  if (Get(r.txn(), marks_, ChKey(channel, user), &found) == 0 && found.size() == 16) {
    out->read = ReadBe64(found.data());
    out->delivered = ReadBe64(found.data() + 8);
  }
  return Status::Ok();
}

Status LocalStore::Epoch(std::string_view channel, std::string* epoch) {
  {
    Read r(this);
    if (r.rc() != 0) return LmdbError("read", r.rc());
    std::string_view found;
    if (Get(r.txn(), meta_, ChKey(channel, "epoch"), &found) == 0) {
      *epoch = std::string(found);
      return Status::Ok();
    }
  }
  Write w(this);
  if (Status s = w.Begin(); !s.ok()) return s;
  Status s = EnsureEpoch(w.txn(), channel, epoch);
  if (s.ok()) s = w.Commit();
  return s;
}

// ---------------------------------------------------------------- outbox
// Entries: key big-endian position, value "<channel>\0<stored message>". The
// next position lives in meta under a key no channel key can equal (channel
// keys start with a non-empty id).

namespace {
const std::string kOutboxNextKey = std::string("\0outbox_next", 12);
}  // namespace

Status LocalStore::OutboxAdd(const AppendRequest& request, uint64_t* position) {
  Write w(this);
  if (Status s = w.Begin(); !s.ok()) return s;
  const uint64_t pos = GetU64(w.txn(), meta_, kOutboxNextKey, 1);
  std::string value(request.channel);
  value.push_back('\0');
  value += EncodeStored(MakeStoredMessage(request, 0));
  Status s = Put(w.txn(), outbox_, Be64(pos), value);
  if (s.ok()) s = PutU64(w.txn(), meta_, kOutboxNextKey, pos + 1);
  if (s.ok()) s = w.Commit();
  if (s.ok()) *position = pos;
  return s;
}

Status LocalStore::OutboxRead(uint64_t after, size_t limit, std::vector<OutboxEntry>* out) {
  out->clear();
  // Its own read transaction: this may run on another thread, which must
  // never touch the broker thread's open group transaction.
  MDB_txn* t = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t);
  if (rc != 0) return LmdbError("read outbox", rc);
  MDB_cursor* c = nullptr;
  rc = mdb_cursor_open(t, outbox_, &c);
  if (rc != 0) {
    mdb_txn_abort(t);
    return LmdbError("read outbox", rc);
  }
  const std::string start = Be64(after + 1);
  MDB_val k = Val(start), v;
  Status result;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && out->size() < limit;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    std::string_view value = View(v);
    size_t nul = value.find('\0');
    OutboxEntry e;
    if (k.mv_size != 8 || nul == std::string_view::npos || !DecodeStored(value.substr(nul + 1), 0, &e.message)) {
      result = Status::Corruption("local store: unreadable outbox entry");
      break;
    }
    e.position = ReadBe64(k.mv_data);
    e.channel = std::string(value.substr(0, nul));
    out->push_back(std::move(e));
  }
  mdb_cursor_close(c);
  mdb_txn_abort(t);
  return result;
}

Status LocalStore::OutboxRemove(uint64_t upto) {
  // Its own top-level write transaction (another thread); LMDB serialises it
  // with the broker thread's writes.
  MDB_txn* t = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &t);
  if (rc != 0) return LmdbError("remove from outbox", rc);
  MDB_cursor* c = nullptr;
  rc = mdb_cursor_open(t, outbox_, &c);
  if (rc == 0) {
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && k.mv_size == 8 && ReadBe64(k.mv_data) <= upto;
         rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) {
      rc = mdb_cursor_del(c, 0);
      if (rc != 0) break;
    }
    mdb_cursor_close(c);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    mdb_txn_abort(t);
    return LmdbError("remove from outbox", rc);
  }
  rc = mdb_txn_commit(t);
  return rc == 0 ? Status::Ok() : LmdbError("remove from outbox", rc);
}

Status LocalStore::OutboxSize(uint64_t* entries) {
  MDB_txn* t = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t);
  if (rc != 0) return LmdbError("read outbox", rc);
  MDB_stat st;
  rc = mdb_stat(t, outbox_, &st);
  mdb_txn_abort(t);
  if (rc != 0) return LmdbError("read outbox", rc);
  *entries = st.ms_entries;
  return Status::Ok();
}

}  // namespace chat
