#include "chat/redis_store.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "chat/cluster_listener.h"
#include "chat/cluster_scripts.h"
#include "chat/feed_event.h"
#include "chat/hex.h"
#include "chat/immediate_store.h"
#include "chat/outbox.h"
#include "chat/redis_connection.h"
#include "chat/sequence_gate.h"
#include "chat/stored_message_codec.h"
#include "chat/string_hash.h"

namespace chat {
namespace {

using Clock = std::chrono::steady_clock;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Num(uint64_t v) { return std::to_string(v); }
std::string Num(int64_t v) { return std::to_string(v); }

uint64_t AsU64(const RedisValue& v) {
  if (v.type == RedisValue::Type::kInteger) return v.integer < 0 ? 0 : static_cast<uint64_t>(v.integer);
  if (v.type == RedisValue::Type::kString || v.type == RedisValue::Type::kStatus) {
    return std::strtoull(v.str.c_str(), nullptr, 10);
  }
  return 0;
}

// A message accepted on this node and not yet confirmed by Redis.
struct PendingMessage {
  uint64_t position = 0;  // in the local outbox
  std::string channel;
  StoredMessage message;  // seq 0
  HistoryLimits limits;
  std::string epoch_candidate;
  AppendCallback later;  // null for entries left by an earlier run
};

// One command for the I/O thread. `done` runs on the I/O thread with the
// reply, or with an error when the command could not be carried out.
struct Request {
  const RedisScript* script = nullptr;  // set: argv are the script's ARGV
  std::vector<std::string> argv;
  bool durable = false;       // a write: kept and retried until Redis takes it
  bool retried = false;       // a read already sent once on a connection that then failed
  uint64_t after_outbox = 0;  // sent only once the outbox is committed up to here
  std::function<void(const Status&, RedisValue&)> done;
};

class RedisStore final : public Store {
 public:
  RedisStore(const RedisStoreOptions& options, const StoreSettings& settings, std::unique_ptr<Store> local)
      : options_(options),
        settings_(settings),
        env_(settings.env ? settings.env : Env::Default()),
        prefix_(options.key_prefix),
        local_(std::move(local)),
        immediate_(static_cast<ImmediateStore*>(local_.get())),
        outbox_(local_->GetOutbox()) {}

  ~RedisStore() override { Stop(); }

  Status Start();

  // ---- Store
  AppendResult Append(const AppendRequest& request, AppendCallback later) override;
  Status ClaimTokenId(std::string_view jti, int64_t expires_ms, int64_t now_ms, bool* first_use) override;
  Status SaveChannel(const ChannelConfig& config) override;
  Status DeleteChannel(std::string_view id) override;
  Status LoadChannels(std::vector<ChannelConfig>* out) override { return local_->LoadChannels(out); }
  void ReadSync(const SyncQuery& query, SyncCallback done) override;
  void AdvanceWatermark(std::string_view channel, std::string_view user, ReceiptKind kind, uint64_t upto,
                        WatermarkCallback done) override;
  Status PollCompletions() override;
  Outbox* GetOutbox() override { return outbox_; }

  bool clustered() const override { return true; }
  void SetListener(ClusterListener* listener) override { listener_ = listener; }
  void ShareEvent(std::string_view channel, std::string_view kind, std::string_view payload) override;
  void ReportDevices(std::string_view user, uint64_t devices, int64_t now_ms) override;
  void GatherFanout(std::string_view channel, uint64_t seq, std::string_view node, uint64_t here,
                    FanoutCallback done) override;
  void ReportFanout(std::string_view channel, uint64_t seq, uint64_t count) override;

 private:
  // ---- broker thread
  void Post(std::function<void()> fn);  // any thread: run fn in PollCompletions
  void Submit(Request r);               // broker thread: hand a request to the I/O thread
  void PostLog(LogLevel level, std::string line);
  void HandleFeed(const std::string& payload);
  void Deliver(std::string_view channel, SequenceGate::Output& out);
  void IssueFill(const SequenceGate::Fill& fill);
  void OnFeedResumed();
  void ApplyBaseline(const std::vector<std::string>& channels, const std::vector<uint64_t>& heads);
  void KnowChannel(std::string_view id, bool known);  // keeps known_channels_
  // A channel learned late (created while this node was away): followed
  // from its current head.
  void FollowFromHead(const std::string& channel);
  // `taken_after`: channel_write_count_ when the snapshot was asked for; a
  // channel written since (here or by a feed event) is newer than it.
  void ApplyChannelSnapshot(const RedisValue& all, uint64_t taken_after);
  // A node's heartbeat lives 2/3 of presence_timeout and is renewed every
  // 1/3: a live node has one beat of slack, and a dead node's devices are
  // dropped by the next beat of another node after expiry, within the timeout.
  int64_t HeartbeatTtlMs() const { return std::max<int64_t>(options_.presence_timeout_ms * 2 / 3, 200); }
  // A new channel's epoch, should this call create the channel in Redis:
  // unique across runs and nodes (the run's random nonce) and calls (a
  // counter), without drawing random bytes for every message.
  std::string EpochCandidate() { return owner_nonce_ + "." + std::to_string(++epoch_counter_); }
  std::string RandomBytes(size_t n) {
    std::string b(n, '\0');
    env_->RandomBytes(b.data(), n);
    return b;
  }

  // ---- I/O threads
  void WorkerLoop();
  bool WorkerConnect();
  // One pipelined round: messages, then requests allowed after them. False
  // when messages were sent and none was confirmed (wait before retrying).
  bool WorkerRound(std::vector<PendingMessage*>& batch, std::deque<Request>& requests);
  void FeedLoop();
  void TrimLoop();
  void WakerLoop();
  void Stop();
  bool WaitBackoff(int* backoff_ms);
  bool stopping() {
    std::lock_guard<std::mutex> l(mu_);
    return stop_;
  }

  const RedisStoreOptions options_;
  const StoreSettings settings_;
  Env* env_;
  const std::string prefix_;
  std::unique_ptr<Store> local_;
  ImmediateStore* immediate_;
  Outbox* outbox_;
  ClusterListener* listener_ = nullptr;
  SequenceGate gate_;
  // Broker thread: work due at a time (retried history fetches, fanout reads).
  std::vector<std::pair<Clock::time_point, std::function<void()>>> timers_;
  std::string owner_nonce_ = "";  // this run's: token claims, epoch candidates
  uint64_t epoch_counter_ = 0;    // broker thread

  // Broker-thread mailbox.
  std::mutex inbox_mu_;
  std::vector<std::function<void()>> inbox_;
  std::atomic<bool> wake_pending_{false};
  // A signal that arrives while the broker thread is not inside epoll_wait
  // is lost, and the loop then sleeps its full 100 ms with work waiting. The
  // waker thread repeats the signal every millisecond until PollCompletions
  // has taken the work (bench: cross-node p99 was 52-105 ms without it).
  std::mutex waker_mu_;
  std::condition_variable waker_cv_;
  std::thread waker_;

  // I/O thread's work, under mu_.
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<PendingMessage> pending_;  // unconfirmed, in outbox order
  std::deque<Request> requests_;
  StringMap<uint64_t> devices_;  // this node's device counts, as reported
  std::vector<std::string> known_channels_;  // what the feed thread reads heads of (unsorted set)
  // Broker thread: a counter of channel writes and each channel's last one,
  // so a channel snapshot never undoes a newer write.
  uint64_t channel_write_count_ = 0;
  StringMap<uint64_t> channel_writes_;
  uint64_t last_added_ = 0;      // highest outbox position handed to the I/O thread
  uint64_t confirmed_ = 0;       // highest outbox position Redis confirmed
  bool stop_ = false;

  // Trimmer: removes confirmed entries from the local outbox.
  std::condition_variable trim_cv_;
  uint64_t removed_ = 0;

  // Sockets the threads block on, so Stop can interrupt them.
  std::mutex fd_mu_;
  int worker_fd_ = -1;
  int feed_fd_ = -1;

  std::unique_ptr<RedisConnection> conn_;  // I/O thread only
  bool outage_logged_ = false;             // I/O thread only
  bool commit_error_logged_ = false;       // I/O thread only
  std::atomic<uint64_t> committed_messages_{0};
  std::atomic<uint64_t> committed_batches_{0};

  std::thread worker_;
  std::thread feed_;
  std::thread trimmer_;
};

// ------------------------------------------------------------------ start, stop

Status RedisStore::Start() {
  owner_nonce_ = HexEncode(RandomBytes(8));
  std::vector<ChannelConfig> cached;
  if (Status s = local_->LoadChannels(&cached); !s.ok()) return s;
  for (const ChannelConfig& c : cached) known_channels_.push_back(c.id);
  // Messages an earlier run accepted and did not commit go first, in order.
  std::vector<OutboxEntry> left;
  for (uint64_t after = 0;;) {
    std::vector<OutboxEntry> page;
    if (Status s = outbox_->OutboxRead(after, 1000, &page); !s.ok()) return s;
    if (page.empty()) break;
    after = page.back().position;
    for (auto& e : page) left.push_back(std::move(e));
  }
  for (auto& e : left) {
    PendingMessage m;
    m.position = e.position;
    m.channel = std::move(e.channel);
    m.message = std::move(e.message);
    m.limits = options_.default_limits;
    m.epoch_candidate = EpochCandidate();
    last_added_ = std::max(last_added_, m.position);
    pending_.push_back(std::move(m));
  }
  if (!left.empty()) {
    confirmed_ = removed_ = left.front().position - 1;
    PostLog(LogLevel::kNotice, "redis: " + std::to_string(left.size()) +
                                   " message(s) accepted by an earlier run are committed first");
  }
  worker_ = std::thread([this] { WorkerLoop(); });
  feed_ = std::thread([this] { FeedLoop(); });
  trimmer_ = std::thread([this] { TrimLoop(); });
  if (settings_.wake) waker_ = std::thread([this] { WakerLoop(); });
  return Status::Ok();
}

void RedisStore::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_ && !worker_.joinable()) return;
    stop_ = true;
  }
  work_cv_.notify_all();
  trim_cv_.notify_all();
  {
    std::lock_guard<std::mutex> l(waker_mu_);
  }
  waker_cv_.notify_all();
  {
    std::lock_guard<std::mutex> l(fd_mu_);
    if (worker_fd_ >= 0) ::shutdown(worker_fd_, SHUT_RDWR);
    if (feed_fd_ >= 0) ::shutdown(feed_fd_, SHUT_RDWR);
  }
  if (worker_.joinable()) worker_.join();
  if (feed_.joinable()) feed_.join();
  if (trimmer_.joinable()) trimmer_.join();
  if (waker_.joinable()) waker_.join();
  // What Redis confirmed need not be sent again by the next run.
  if (confirmed_ > removed_) outbox_->OutboxRemove(confirmed_);
}

bool RedisStore::WaitBackoff(int* backoff_ms) {
  std::unique_lock<std::mutex> l(mu_);
  work_cv_.wait_for(l, std::chrono::milliseconds(*backoff_ms), [this] { return stop_; });
  *backoff_ms = std::min(*backoff_ms * 2, 2000);
  return !stop_;
}

// ------------------------------------------------------------------ broker thread

void RedisStore::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    inbox_.push_back(std::move(fn));
  }
  if (!wake_pending_.exchange(true) && settings_.wake) {
    settings_.wake();
    { std::lock_guard<std::mutex> l(waker_mu_); }  // the waker is waiting, or sees the flag
    waker_cv_.notify_one();
  }
}

void RedisStore::PostLog(LogLevel level, std::string line) {
  Post([this, level, line = std::move(line)] {
    if (listener_) listener_->OnStoreLog(level, line);
  });
}

void RedisStore::Submit(Request r) {
  {
    std::lock_guard<std::mutex> l(mu_);
    r.after_outbox = last_added_;
    requests_.push_back(std::move(r));
  }
  work_cv_.notify_one();
}

Status RedisStore::PollCompletions() {
  Status st = local_->PollCompletions();
  if (!timers_.empty()) {
    const auto now = Clock::now();
    std::vector<std::function<void()>> due;
    for (auto it = timers_.begin(); it != timers_.end();) {
      if (it->first <= now) {
        due.push_back(std::move(it->second));
        it = timers_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& fn : due) fn();
  }
  wake_pending_.store(false);
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    work.swap(inbox_);
  }
  for (auto& fn : work) fn();
  return st;
}

AppendResult RedisStore::Append(const AppendRequest& request, AppendCallback later) {
  PendingMessage m;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (pending_.size() >= options_.outbox_max) {
      return AppendResult{AppendStatus::kFailed, 0,
                          Status::IOError("outbox full (" + std::to_string(pending_.size()) +
                                          " messages waiting for Redis)")};
    }
  }
  uint64_t position = 0;
  if (Status s = outbox_->OutboxAdd(request, &position); !s.ok()) return AppendResult{AppendStatus::kFailed, 0, s};
  m.position = position;
  m.channel = std::string(request.channel);
  m.message = MakeStoredMessage(request, 0);
  m.limits = request.limits;
  m.epoch_candidate = EpochCandidate();
  m.later = std::move(later);
  {
    std::lock_guard<std::mutex> l(mu_);
    last_added_ = position;
    pending_.push_back(std::move(m));
  }
  work_cv_.notify_one();
  return AppendResult{AppendStatus::kPending, 0, Status::Ok()};
}

Status RedisStore::ClaimTokenId(std::string_view jti, int64_t expires_ms, int64_t now_ms, bool* first_use) {
  // This node decides at once from what it knows (its own claims and the
  // ones the feed brought); Redis settles a race between nodes afterwards.
  Status s = local_->ClaimTokenId(jti, expires_ms, now_ms, first_use);
  if (!s.ok() || !*first_use) return s;
  Request r;
  r.script = &Scripts().claim_token;
  r.argv = {prefix_, std::string(jti), options_.node_id + "/" + owner_nonce_, Num(expires_ms), Num(now_ms),
            options_.node_id};
  r.durable = true;
  r.done = [this, jti = std::string(jti)](const Status& st, RedisValue& v) {
    if (st.ok() && v.type == RedisValue::Type::kInteger && v.integer == 0) {
      Post([this, jti] {
        if (listener_) listener_->OnTokenConflict(jti);
      });
    }
  };
  Submit(std::move(r));
  return s;
}

void RedisStore::KnowChannel(std::string_view id, bool known) {
  channel_writes_.insert_or_assign(std::string(id), ++channel_write_count_);
  std::lock_guard<std::mutex> l(mu_);
  auto it = std::find(known_channels_.begin(), known_channels_.end(), id);
  if (known && it == known_channels_.end()) known_channels_.emplace_back(id);
  if (!known && it != known_channels_.end()) known_channels_.erase(it);
}

Status RedisStore::SaveChannel(const ChannelConfig& config) {
  if (Status s = local_->SaveChannel(config); !s.ok()) return s;
  KnowChannel(config.id, true);
  SequenceGate::Output out;
  if (!gate_.Follows(config.id)) gate_.Start(config.id, 0, &out);
  Request r;
  r.script = &Scripts().save_channel;
  r.argv = {prefix_, config.id, ToChannelDocument(config)};
  r.durable = true;
  Submit(std::move(r));
  return Status::Ok();
}

Status RedisStore::DeleteChannel(std::string_view id) {
  if (Status s = local_->DeleteChannel(id); !s.ok()) return s;
  KnowChannel(id, false);
  gate_.Reset(id);
  Request r;
  r.script = &Scripts().delete_channel;
  r.argv = {prefix_, std::string(id)};
  r.durable = true;
  Submit(std::move(r));
  return Status::Ok();
}

void RedisStore::ReadSync(const SyncQuery& q, SyncCallback done) {
  Request r;
  r.script = &Scripts().sync;
  r.argv = {prefix_, q.channel, q.user, Num(q.after), Num(static_cast<uint64_t>(q.limit)), Num(q.now_ms),
            Num(q.limits.max_count), Num(q.limits.max_age_ms), EpochCandidate()};
  r.done = [this, done = std::move(done)](const Status& st, RedisValue& v) mutable {
    SyncSnapshot snap;
    Status result = st;
    if (result.ok()) {
      if (v.type != RedisValue::Type::kArray || v.elements.size() < 5) {
        result = Status::IOError("redis: unexpected sync reply" + (v.is_error() ? ": " + v.str : std::string()));
      } else {
        snap.head = AsU64(v.elements[0]);
        snap.epoch = v.elements[1].str;
        snap.marks.read = AsU64(v.elements[2]);
        snap.marks.delivered = AsU64(v.elements[3]);
        snap.first_kept = AsU64(v.elements[4]);
        for (size_t i = 5; i < v.elements.size(); ++i) {
          uint64_t seq = 0;
          std::string_view entry;
          StoredMessage m;
          if (!ParseHistoryMember(v.elements[i].str, &seq, &entry) || !DecodeStored(entry, seq, &m)) {
            result = Status::Corruption("redis: unreadable history entry");
            break;
          }
          snap.page.push_back(std::move(m));
        }
      }
    }
    Post([done = std::move(done), result, snap = std::move(snap)] { done(result, snap); });
  };
  Submit(std::move(r));
}

void RedisStore::AdvanceWatermark(std::string_view channel, std::string_view user, ReceiptKind kind, uint64_t upto,
                                  WatermarkCallback done) {
  Request r;
  r.script = &Scripts().watermark;
  r.argv = {prefix_, std::string(channel), std::string(user), ReceiptKindName(kind), Num(upto)};
  r.done = [this, done = std::move(done)](const Status& st, RedisValue& v) mutable {
    Status result = st;
    Watermarks now;
    bool advanced = false;
    if (result.ok()) {
      if (v.type != RedisValue::Type::kArray || v.elements.size() != 3) {
        result = Status::IOError("redis: unexpected watermark reply" + (v.is_error() ? ": " + v.str : std::string()));
      } else {
        now.read = AsU64(v.elements[0]);
        now.delivered = AsU64(v.elements[1]);
        advanced = AsU64(v.elements[2]) == 1;
      }
    }
    Post([done = std::move(done), result, now, advanced] { done(result, now, advanced); });
  };
  Submit(std::move(r));
}

void RedisStore::ShareEvent(std::string_view channel, std::string_view kind, std::string_view payload) {
  Request r;
  r.argv = {"PUBLISH", prefix_ + "feed", EncodeSharedEvent(options_.node_id, channel, kind, payload)};
  Submit(std::move(r));
}

void RedisStore::ReportDevices(std::string_view user, uint64_t devices, int64_t now_ms) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (devices == 0) {
      if (auto it = devices_.find(user); it != devices_.end()) devices_.erase(it);
    } else {
      devices_.insert_or_assign(std::string(user), devices);
    }
  }
  Request r;
  r.script = &Scripts().presence;
  r.argv = {prefix_, options_.node_id, std::string(user), Num(devices), Num(now_ms), Num(HeartbeatTtlMs())};
  r.durable = true;
  Submit(std::move(r));
}

// Every node writes its count into one hash per message; the asking node
// reads it back after a short wait (the others answer from their feed).
constexpr auto kFanoutWait = std::chrono::milliseconds(300);

void RedisStore::ReportFanout(std::string_view channel, uint64_t seq, uint64_t count) {
  const std::string key = prefix_ + "fanout:" + std::string(channel) + ":" + Num(seq);
  Request r;
  r.argv = {"HSET", key, options_.node_id, Num(count)};
  Submit(std::move(r));
  Request ttl;
  ttl.argv = {"PEXPIRE", key, "60000"};
  Submit(std::move(ttl));
}

void RedisStore::GatherFanout(std::string_view channel, uint64_t seq, std::string_view /*node*/, uint64_t here,
                              FanoutCallback done) {
  ReportFanout(channel, seq, here);
  ShareEvent(channel, "fanout", Num(seq));
  const std::string key = prefix_ + "fanout:" + std::string(channel) + ":" + Num(seq);
  timers_.emplace_back(Clock::now() + kFanoutWait, [this, key, done = std::move(done)]() mutable {
    Request r;
    r.argv = {"HGETALL", key};
    r.done = [this, done = std::move(done)](const Status& st, RedisValue& v) mutable {
      std::vector<std::pair<std::string, uint64_t>> counts;
      Status result = st;
      if (result.ok() && v.type != RedisValue::Type::kArray) result = Status::IOError("redis: unexpected fanout reply");
      for (size_t i = 0; result.ok() && i + 1 < v.elements.size(); i += 2) {
        counts.emplace_back(v.elements[i].str, AsU64(v.elements[i + 1]));
      }
      Post([done = std::move(done), result, counts = std::move(counts)]() mutable { done(result, std::move(counts)); });
    };
    Submit(std::move(r));
  });
}

void RedisStore::HandleFeed(const std::string& payload) {
  FeedEvent e;
  if (!ParseFeedEvent(payload, &e)) {
    if (listener_) listener_->OnStoreLog(LogLevel::kWarning, "redis feed: ignored a malformed event");
    return;
  }
  switch (e.type) {
    case FeedEvent::Type::kMessage: {
      StoredMessage m;
      if (!DecodeStored(e.entry, e.seq, &m)) {
        if (listener_) listener_->OnStoreLog(LogLevel::kWarning, "redis feed: unreadable message in " + e.channel);
        return;
      }
      SequenceGate::Output out;
      gate_.OnFeed(e.channel, std::move(m), &out);
      Deliver(e.channel, out);
      return;
    }
    case FeedEvent::Type::kChannelSaved: {
      ChannelConfig config;
      Status s = ParseChannelDocument(e.channel, e.entry, ChannelDocLimits{}, &config);
      if (s.ok()) s = local_->SaveChannel(config);
      if (s.ok()) {
        KnowChannel(e.channel, true);
        // A channel this node follows from now on: it is new (or created
        // again), so its sequence starts at 0; an update changes nothing.
        SequenceGate::Output out;
        if (!gate_.Follows(e.channel)) gate_.Start(e.channel, 0, &out);
      }
      if (!s.ok()) {
        if (listener_) listener_->OnStoreLog(LogLevel::kError, "redis feed: channel '" + e.channel + "': " + s.ToString());
        return;
      }
      if (listener_) listener_->OnClusterChannel(e.channel, &config);
      return;
    }
    case FeedEvent::Type::kChannelDeleted:
      local_->DeleteChannel(e.channel);
      KnowChannel(e.channel, false);
      gate_.Reset(e.channel);
      if (listener_) listener_->OnClusterChannel(e.channel, nullptr);
      return;
    case FeedEvent::Type::kShared:
      if (e.node != options_.node_id && listener_) listener_->OnClusterEvent(e.channel, e.kind, e.entry);
      return;
    case FeedEvent::Type::kPresence:
      if (listener_) listener_->OnClusterPresence(e.presence);
      return;
    case FeedEvent::Type::kTokenClaim:
      if (e.node != options_.node_id) {
        bool first = false;
        local_->ClaimTokenId(e.jti, e.expires_ms, env_->NowMs(), &first);
      }
      return;
  }
}

void RedisStore::Deliver(std::string_view channel, SequenceGate::Output& out) {
  if (listener_) {
    for (const StoredMessage& m : out.deliver) listener_->OnClusterMessage(channel, m);
    if (out.skipped > 0) {
      listener_->OnStoreLog(LogLevel::kWarning, "channel '" + std::string(channel) + "': " +
                                                    std::to_string(out.skipped) +
                                                    " message(s) were no longer in history when this node "
                                                    "caught up; subscribers will see the gap in seq and sync");
    }
  }
  for (const SequenceGate::Fill& f : out.fills) IssueFill(f);
}

void RedisStore::IssueFill(const SequenceGate::Fill& fill) {
  if (listener_) {
    listener_->OnStoreLog(LogLevel::kDebug, "redis: channel '" + fill.channel + "' fetches seq " +
                                                std::to_string(fill.after + 1) + ".." + std::to_string(fill.upto) +
                                                " from history");
  }
  Request r;
  // Built by append: GCC 12 at -O3 reports a false -Werror=restrict on "(" + std::string.
  std::string exclusive_after(1, '(');
  exclusive_after.append(Num(fill.after));
  r.argv = {"ZRANGEBYSCORE", prefix_ + "hist:" + fill.channel, exclusive_after, Num(fill.upto), "LIMIT", "0",
            Num(static_cast<uint64_t>(fill.limit))};
  r.done = [this, fill](const Status& st, RedisValue& v) {
    std::vector<StoredMessage> page;
    bool ok = st.ok() && v.type == RedisValue::Type::kArray;
    for (size_t i = 0; ok && i < v.elements.size(); ++i) {
      uint64_t seq = 0;
      std::string_view entry;
      StoredMessage m;
      if (ParseHistoryMember(v.elements[i].str, &seq, &entry) && DecodeStored(entry, seq, &m)) {
        page.push_back(std::move(m));
      }
    }
    Post([this, fill, ok, page = std::move(page)]() mutable {
      if (!ok) {
        // Still outstanding for the gate: asked again shortly, whether or
        // not more traffic comes (everything may already be committed).
        if (listener_) listener_->OnStoreLog(LogLevel::kDebug, "redis: history fetch failed; asked again shortly");
        timers_.emplace_back(Clock::now() + std::chrono::milliseconds(200), [this, fill] { IssueFill(fill); });
        return;
      }
      SequenceGate::Output out;
      gate_.OnFill(fill, std::move(page), &out);
      Deliver(fill.channel, out);
    });
  };
  Submit(std::move(r));
}

void RedisStore::OnFeedResumed() {
  // What the feed may have carried meanwhile besides messages (those are
  // caught up by the baseline): channel documents, presence, token ids.
  Request docs;
  docs.argv = {"HGETALL", prefix_ + "channels"};
  docs.done = [this, taken_after = channel_write_count_](const Status& st, RedisValue& v) {
    if (!st.ok() || v.type != RedisValue::Type::kArray) return;
    Post([this, taken_after, v = std::move(v)] { ApplyChannelSnapshot(v, taken_after); });
  };
  Submit(std::move(docs));
  Request presence;
  presence.script = &Scripts().presence_snapshot;
  presence.argv = {prefix_};
  presence.done = [this](const Status& st, RedisValue& v) {
    if (!st.ok() || v.type != RedisValue::Type::kArray) return;
    std::vector<Presence> all;
    for (size_t i = 0; i + 3 < v.elements.size(); i += 4) {
      Presence p;
      p.user = v.elements[i].str;
      p.online = v.elements[i + 1].str == "online";
      p.devices = AsU64(v.elements[i + 2]);
      p.since = AsU64(v.elements[i + 3]);
      all.push_back(std::move(p));
    }
    Post([this, all = std::move(all)] {
      if (!listener_) return;
      for (const Presence& p : all) listener_->OnClusterPresence(p);
    });
  };
  Submit(std::move(presence));
  // Token ids claimed while this node was not listening: a replay here is
  // then refused at CONNECT, not only kicked after the fact.
  Request tokens;
  tokens.argv = {"ZRANGEBYSCORE", prefix_ + "jtis", Num(WallMs()), "+inf", "WITHSCORES"};
  tokens.done = [this](const Status& st, RedisValue& v) {
    if (!st.ok() || v.type != RedisValue::Type::kArray) return;
    std::vector<std::pair<std::string, int64_t>> ids;
    for (size_t i = 0; i + 1 < v.elements.size(); i += 2) {
      ids.emplace_back(v.elements[i].str, static_cast<int64_t>(AsU64(v.elements[i + 1])));
    }
    Post([this, ids = std::move(ids)] {
      const int64_t now = env_->NowMs();
      for (const auto& [jti, expires] : ids) {
        bool first = false;
        local_->ClaimTokenId(jti, expires, now, &first);
      }
      if (listener_) {
        listener_->OnStoreLog(LogLevel::kInfo, "redis: caught up with the cluster (" + std::to_string(ids.size()) +
                                                   " live token id(s))");
      }
    });
  };
  Submit(std::move(tokens));
}

void RedisStore::FollowFromHead(const std::string& channel) {
  Request r;
  r.argv = {"GET", prefix_ + "seq:" + channel};
  r.done = [this, channel](const Status& st, RedisValue& v) {
    if (!st.ok()) return;
    const uint64_t head = AsU64(v);
    Post([this, channel, head] {
      SequenceGate::Output out;
      gate_.Start(channel, head, &out);
      Deliver(channel, out);
    });
  };
  Submit(std::move(r));
}

void RedisStore::ApplyBaseline(const std::vector<std::string>& channels, const std::vector<uint64_t>& heads) {
  for (size_t i = 0; i < channels.size() && i < heads.size(); ++i) {
    SequenceGate::Output out;
    if (listener_) {
      listener_->OnStoreLog(LogLevel::kDebug, "redis feed baseline: channel '" + channels[i] + "' head " +
                                                  std::to_string(heads[i]) + ", delivered " +
                                                  std::to_string(gate_.Delivered(channels[i])) +
                                                  (gate_.Follows(channels[i]) ? "" : " (new)"));
    }
    gate_.Start(channels[i], heads[i], &out);
    Deliver(channels[i], out);
  }
}

void RedisStore::ApplyChannelSnapshot(const RedisValue& all, uint64_t taken_after) {
  std::vector<ChannelConfig> known;
  local_->LoadChannels(&known);
  auto newer = [&](const std::string& id) {
    auto it = channel_writes_.find(id);
    return it != channel_writes_.end() && it->second > taken_after;
  };
  StringMap<bool> in_redis;
  for (size_t i = 0; i + 1 < all.elements.size(); i += 2) {
    const std::string& id = all.elements[i].str;
    in_redis.emplace(id, true);
    if (newer(id)) continue;
    ChannelConfig config;
    if (!ParseChannelDocument(id, all.elements[i + 1].str, ChannelDocLimits{}, &config).ok()) continue;
    auto same = std::find_if(known.begin(), known.end(), [&](const ChannelConfig& c) {
      return c.id == id && ToChannelDocument(c) == ToChannelDocument(config);
    });
    if (same != known.end()) continue;
    if (!local_->SaveChannel(config).ok()) continue;
    KnowChannel(id, true);
    if (!gate_.Follows(id)) FollowFromHead(id);
    if (listener_) listener_->OnClusterChannel(id, &config);
  }
  for (const ChannelConfig& c : known) {
    if (in_redis.count(c.id) || newer(c.id)) continue;
    local_->DeleteChannel(c.id);
    KnowChannel(c.id, false);
    gate_.Reset(c.id);
    if (listener_) listener_->OnClusterChannel(c.id, nullptr);
  }
}

// ------------------------------------------------------------------ I/O thread: commits and requests

bool RedisStore::WorkerConnect() {
  std::unique_ptr<RedisConnection> c;
  Status s = RedisConnection::Connect(options_.address, options_.connect_timeout_ms, &c);
  if (s.ok()) {
    // Load every script once; EVALSHA finds them from now on.
    for (const RedisScript* script : Scripts().All()) c->Append(script->LoadArgv());
    for (size_t i = 0; s.ok() && i < Scripts().All().size(); ++i) {
      RedisValue v;
      s = c->GetReply(&v);
      if (s.ok() && v.is_error()) s = Status::IOError("SCRIPT LOAD: " + v.str);
    }
  }
  if (s.ok()) {
    // State this node's devices afresh (see node_start.lua).
    std::vector<std::string> args = {prefix_, options_.node_id, Num(WallMs()), Num(HeartbeatTtlMs())};
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& [user, n] : devices_) {
        args.push_back(user);
        args.push_back(Num(n));
      }
    }
    RedisValue v;
    s = c->Command(Scripts().node_start.EvalShaArgv({}, args), &v);
    if (s.ok() && v.is_error()) s = Status::IOError("node_start: " + v.str);
  }
  if (!s.ok()) {
    if (!outage_logged_) {  // once per outage
      PostLog(LogLevel::kError, "redis " + DescribeRedisAddress(options_.address) + " unreachable: " + s.ToString() +
                                    "; accepting into the outbox (max " + std::to_string(options_.outbox_max) +
                                    ") and retrying");
    }
    outage_logged_ = true;
    return false;
  }
  c->SetTimeout(options_.command_timeout_ms);
  {
    std::lock_guard<std::mutex> l(fd_mu_);
    worker_fd_ = c->fd();
  }
  conn_ = std::move(c);
  size_t waiting = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    waiting = pending_.size();
  }
  PostLog(LogLevel::kNotice, "redis " + DescribeRedisAddress(options_.address) + " connected (node '" +
                                 options_.node_id + "'); " + std::to_string(waiting) + " message(s) to commit");
  outage_logged_ = false;
  return true;
}

void RedisStore::WorkerLoop() {
  int backoff_ms = 100;
  auto next_heartbeat = Clock::now();
  auto next_stats = Clock::now() + std::chrono::seconds(10);
  uint64_t logged_messages = 0;
  const auto heartbeat_every = std::chrono::milliseconds(std::max<int64_t>(options_.presence_timeout_ms / 3, 100));
  while (true) {
    if (!conn_) {
      if (!WorkerConnect()) {
        // Requests that cannot wait for Redis fail now; writes are kept.
        std::deque<Request> failed;
        {
          std::lock_guard<std::mutex> l(mu_);
          if (stop_) return;
          std::deque<Request> keep;
          for (auto& r : requests_) (r.durable ? keep : failed).push_back(std::move(r));
          requests_.swap(keep);
        }
        for (auto& r : failed) {
          RedisValue none;
          if (r.done) r.done(Status::IOError("redis unreachable"), none);
        }
        if (!WaitBackoff(&backoff_ms)) return;
        continue;
      }
      backoff_ms = 100;
    }
    std::vector<PendingMessage*> batch;
    std::deque<Request> requests;
    bool heartbeat = false;
    {
      std::unique_lock<std::mutex> l(mu_);
      work_cv_.wait_until(l, next_heartbeat, [this] { return stop_ || !pending_.empty() || !requests_.empty(); });
      if (stop_) return;
      // Up to 512 messages a round; deque references stay valid while only
      // this thread pops from the front.
      for (size_t i = 0; i < pending_.size() && i < 512; ++i) batch.push_back(&pending_[i]);
      const uint64_t upto = batch.empty() ? confirmed_ : batch.back()->position;
      while (!requests_.empty() && requests_.front().after_outbox <= upto && requests.size() < 512) {
        requests.push_back(std::move(requests_.front()));
        requests_.pop_front();
      }
      if (Clock::now() >= next_heartbeat) {
        heartbeat = true;
        next_heartbeat = Clock::now() + heartbeat_every;
      }
    }
    if (heartbeat) {
      Request hb;
      hb.script = &Scripts().heartbeat;
      hb.argv = {prefix_, options_.node_id, Num(WallMs()), Num(HeartbeatTtlMs())};
      requests.push_back(std::move(hb));
    }
    if (Clock::now() >= next_stats) {
      // Measured, not asserted: what pipelining buys (see bench/README.md).
      next_stats = Clock::now() + std::chrono::seconds(10);
      const uint64_t msgs = committed_messages_.load(), rounds = committed_batches_.load();
      if (msgs != logged_messages) {
        PostLog(LogLevel::kInfo, "redis stats: " + std::to_string(msgs) + " messages committed in " +
                                     std::to_string(rounds) + " round trips (mean pipeline depth " +
                                     std::to_string(rounds ? msgs / rounds : 0) + ")");
        logged_messages = msgs;
      }
    }
    if (batch.empty() && requests.empty()) continue;
    if (!WorkerRound(batch, requests) && conn_ && !WaitBackoff(&backoff_ms)) return;
  }
}

bool RedisStore::WorkerRound(std::vector<PendingMessage*>& batch, std::deque<Request>& requests) {
  const ClusterScripts& scripts = Scripts();
  const uint64_t sent_ms = static_cast<uint64_t>(WallMs());
  for (PendingMessage* m : batch) {
    m->message.stored_ms = sent_ms;  // Redis assigns seq and stores it in this round
    conn_->Append(scripts.append.EvalShaArgv(
        {}, {prefix_, m->channel, m->message.id, EncodeStored(m->message), Num(m->message.sts),
             Num(settings_.dedup_window_ms), Num(m->limits.max_count), Num(m->limits.max_age_ms), Num(m->message.sts),
             m->epoch_candidate}));
  }
  for (const Request& r : requests) conn_->Append(r.script ? r.script->EvalShaArgv({}, r.argv) : r.argv);

  Status io;
  bool noscript = false;
  bool stalled = false;  // a message was not confirmed: later ones wait (order is kept)
  size_t confirmed = 0;
  std::vector<std::function<void()>> callbacks;
  for (PendingMessage* m : batch) {
    RedisValue v;
    if (io.ok()) io = conn_->GetReply(&v);
    if (!io.ok()) break;
    if (IsNoScript(v)) {
      noscript = stalled = true;
      continue;
    }
    if (stalled) continue;
    if (v.type != RedisValue::Type::kArray || v.elements.size() != 2) {
      if (!commit_error_logged_) {
        PostLog(LogLevel::kError, "redis: commit of a message to '" + m->channel + "' failed: " +
                                      (v.is_error() ? v.str : std::string("unexpected reply")) + "; retrying");
      }
      commit_error_logged_ = stalled = true;
      continue;
    }
    commit_error_logged_ = false;
    ++confirmed;
    if (m->later) {
      AppendResult r;
      r.status = AsU64(v.elements[0]) == 1 ? AppendStatus::kAccepted : AppendStatus::kDuplicate;
      r.seq = AsU64(v.elements[1]);
      StoredMessage stored = m->message;
      stored.seq = r.seq;
      callbacks.push_back([later = std::move(m->later), ch = m->channel, r, stored = std::move(stored)] {
        later(ch, r, stored);
      });
    }
  }
  std::deque<Request> retry;
  for (auto& r : requests) {
    RedisValue v;
    if (io.ok()) io = conn_->GetReply(&v);
    if (io.ok() && IsNoScript(v)) noscript = true;
    if (!io.ok() || IsNoScript(v)) {
      // Writes are kept until Redis takes them; a read gets one more try on
      // a fresh connection (an idle connection is found broken only in use).
      if (r.durable || !r.retried) {
        r.retried = true;
        retry.push_back(std::move(r));
      } else if (r.done) {
        RedisValue none;
        r.done(io.ok() ? Status::IOError("redis: script missing") : io, none);
      }
      continue;
    }
    if (r.done) r.done(Status::Ok(), v);
  }
  if (!callbacks.empty()) {
    Post([callbacks = std::move(callbacks)] {
      for (const auto& fn : callbacks) fn();
    });
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    for (size_t i = 0; i < confirmed; ++i) {
      confirmed_ = pending_.front().position;
      pending_.pop_front();
    }
    // Retried writes go back to the front, in their order.
    for (auto it = retry.rbegin(); it != retry.rend(); ++it) requests_.push_front(std::move(*it));
  }
  if (confirmed > 0) {
    committed_messages_ += confirmed;
    committed_batches_ += 1;
    trim_cv_.notify_one();
  }
  if (noscript && io.ok()) {
    PostLog(LogLevel::kWarning, "redis: scripts were flushed; loading them again");
    for (const RedisScript* script : scripts.All()) conn_->Append(script->LoadArgv());
    for (size_t i = 0; io.ok() && i < scripts.All().size(); ++i) {
      RedisValue v;
      io = conn_->GetReply(&v);
    }
  }
  if (!io.ok()) {
    PostLog(LogLevel::kError, "redis connection lost: " + io.ToString() + "; reconnecting");
    {
      std::lock_guard<std::mutex> l(fd_mu_);
      worker_fd_ = -1;
    }
    conn_.reset();
  }
  return batch.empty() || confirmed > 0;
}

// ------------------------------------------------------------------ trimmer thread

void RedisStore::TrimLoop() {
  while (true) {
    uint64_t upto = 0;
    {
      std::unique_lock<std::mutex> l(mu_);
      trim_cv_.wait(l, [this] { return stop_ || confirmed_ > removed_; });
      if (stop_) return;
      upto = confirmed_;
    }
    // Its own LMDB write transaction: it waits for the broker thread's group
    // commit, which is why it is not done on the I/O thread.
    if (outbox_->OutboxRemove(upto).ok()) {
      std::lock_guard<std::mutex> l(mu_);
      removed_ = upto;
    }
    std::unique_lock<std::mutex> l(mu_);
    trim_cv_.wait_for(l, std::chrono::milliseconds(50), [this] { return stop_; });
  }
}

// ------------------------------------------------------------------ waker thread

void RedisStore::WakerLoop() {
  std::unique_lock<std::mutex> l(waker_mu_);
  while (true) {
    waker_cv_.wait(l, [this] { return stopping() || wake_pending_.load(); });
    if (stopping()) return;
    // The first signal went with Post; repeat until the broker thread took
    // the work (it clears the flag first thing in PollCompletions).
    waker_cv_.wait_for(l, std::chrono::milliseconds(1), [this] { return stopping(); });
    if (stopping()) return;
    if (wake_pending_.load()) settings_.wake();
  }
}

// ------------------------------------------------------------------ feed thread

void RedisStore::FeedLoop() {
  int backoff_ms = 100;
  bool ever = false;
  bool lost_logged = false;
  while (true) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
    std::unique_ptr<RedisConnection> c;
    Status s = RedisConnection::Connect(options_.address, options_.connect_timeout_ms, &c);
    RedisValue v;
    if (s.ok()) s = c->Command({"SUBSCRIBE", prefix_ + "feed"}, &v);
    if (s.ok() && v.is_error()) s = Status::IOError(v.str);
    if (!s.ok()) {
      if (!WaitBackoff(&backoff_ms)) return;
      continue;
    }
    // The baseline: every known channel's head, read after subscribing and
    // handed over before any event read below. A channel is then followed
    // from its head at this moment, and a followed one fetches what it
    // missed while the feed was down.
    std::vector<std::string> channels;
    {
      std::lock_guard<std::mutex> l(mu_);
      channels = known_channels_;
    }
    std::vector<uint64_t> heads;
    if (!channels.empty()) {
      std::unique_ptr<RedisConnection> probe;
      RedisValue hv;
      std::vector<std::string> argv = {"MGET"};
      for (const auto& ch : channels) argv.push_back(prefix_ + "seq:" + ch);
      Status hs = RedisConnection::Connect(options_.address, options_.connect_timeout_ms, &probe);
      if (hs.ok()) hs = probe->Command(argv, &hv);
      if (!hs.ok() || hv.type != RedisValue::Type::kArray || hv.elements.size() != channels.size()) {
        if (!WaitBackoff(&backoff_ms)) return;
        continue;  // subscribe again, and take the baseline again
      }
      for (const auto& e : hv.elements) heads.push_back(AsU64(e));
    }
    backoff_ms = 100;
    c->SetTimeout(0);  // block until the next event (Stop shuts the socket)
    {
      std::lock_guard<std::mutex> l(fd_mu_);
      feed_fd_ = c->fd();
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
    Post([this, channels = std::move(channels), heads = std::move(heads)] { ApplyBaseline(channels, heads); });
    if (ever || lost_logged) {
      PostLog(LogLevel::kNotice, "redis feed resumed; catching up from history");
    }
    lost_logged = false;
    // Documents, presence and token ids changed while this node was not
    // listening are read again (on the first subscription too).
    Post([this] { OnFeedResumed(); });
    ever = true;
    while (true) {
      RedisValue msg;
      Status st = c->GetReply(&msg);
      if (!st.ok()) break;
      if (msg.type == RedisValue::Type::kArray && msg.elements.size() == 3 && msg.elements[0].str == "message") {
        Post([this, payload = std::move(msg.elements[2].str)] { HandleFeed(payload); });
      }
    }
    {
      std::lock_guard<std::mutex> l(fd_mu_);
      feed_fd_ = -1;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
    PostLog(LogLevel::kError, "redis feed lost; reconnecting (messages meanwhile are fetched from history)");
    lost_logged = true;
  }
}

}  // namespace

Status OpenRedisStore(const RedisStoreOptions& options, const StoreSettings& settings, std::unique_ptr<Store>* out) {
  if (options.node_id.empty() || options.node_id.find('|') != std::string::npos) {
    return Status::InvalidArgument("node_id must be set and must not contain '|'");
  }
  std::unique_ptr<Store> local;
  if (Status s = OpenLocalStore(options.local, settings, &local); !s.ok()) return s;
  auto store = std::make_unique<RedisStore>(options, settings, std::move(local));
  if (Status s = store->Start(); !s.ok()) return s;
  *out = std::move(store);
  return Status::Ok();
}

}  // namespace chat
