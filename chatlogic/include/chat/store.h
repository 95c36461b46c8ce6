// Store: every state operation of the chat, defined once; implemented per
// backend (memory now; local and redis later). One contract test suite runs
// against each implementation.
//
// Threading: all calls come from one thread (the broker's). A store that
// must do I/O elsewhere returns kPending and later reports the outcome
// through the callback, from PollCompletions() on that same thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/channel_config.h"
#include "chat/env.h"
#include "chat/feature_codec.h"
#include "chat/message_codec.h"
#include "chat/status.h"

namespace chat {

// One history entry: what is needed to re-encode the delivered message.
struct StoredMessage {
  uint64_t seq = 0;
  std::string id;
  std::string from;
  uint64_t sts = 0;  // server receive time, ms
  MessageFields fields;
  // Where it came from and when it was stored, for tracing (empty / 0 in
  // entries written before these were kept).
  std::string client;      // the publisher's MQTT client id
  std::string node;        // the node that accepted it
  uint64_t stored_ms = 0;  // when the store that assigns seq wrote it
};

struct HistoryLimits {
  uint64_t max_count = 10000;  // 0: keep nothing
  int64_t max_age_ms = 0;      // 0: no age limit
};

struct AppendRequest {
  std::string_view channel;
  const ClientMessage* message = nullptr;
  std::string_view from;
  int64_t now_ms = 0;  // becomes sts; also the dedup clock
  HistoryLimits limits;
  std::string_view client;  // for tracing: the publisher's client id
  std::string_view node;    // for tracing: this node's id
};

// The history entry for `request`'s message with sequence number `seq`.
StoredMessage MakeStoredMessage(const AppendRequest& request, uint64_t seq);

enum class AppendStatus {
  kAccepted,   // new message: seq assigned, stored
  kDuplicate,  // id seen in this channel inside the dedup window: seq is the original's
  kFailed,     // not stored (error says why): the message must not be acknowledged
  kPending,    // the outcome comes later through the callback
};

struct AppendResult {
  AppendStatus status = AppendStatus::kFailed;
  uint64_t seq = 0;
  Status error;
};

// The late outcome of a kPending Append, with the stored entry (seq set)
// when accepted. Callers keep captures small: it is built per message.
using AppendCallback =
    std::function<void(std::string_view channel, const AppendResult& result, const StoredMessage& message)>;

struct StoreSettings {
  int64_t dedup_window_ms = 600 * 1000;
  Env* env = nullptr;  // randomness for epochs; null: Env::Default()
  // Called from a store's own threads when PollCompletions has work: wakes
  // the broker thread's loop. Null: the work waits for the next tick.
  std::function<void()> wake;
};

// A user's receipt watermarks in one channel.
struct Watermarks {
  uint64_t read = 0;
  uint64_t delivered = 0;
};

class Outbox;
class ClusterListener;

class Store {
 public:
  virtual ~Store() = default;

  // The store's outbox (see outbox.h), or null when it keeps none.
  virtual Outbox* GetOutbox() { return nullptr; }

  // Exactly once per message: dedup by (channel, message id) within the
  // dedup window, assign the channel's next seq (1, 2, 3, ... gapless), and
  // append to history, trimming by `limits`. One call per chat message.
  // A result other than kPending is final and `later` is never called.
  virtual AppendResult Append(const AppendRequest& request, AppendCallback later) = 0;

  // Records the single use of a token id until `expires_ms`. *first_use is
  // false when the id was already used and has not expired.
  virtual Status ClaimTokenId(std::string_view jti, int64_t expires_ms, int64_t now_ms, bool* first_use) = 0;

  // Channel configurations (the administered documents).
  virtual Status SaveChannel(const ChannelConfig& config) = 0;
  // Removes the channel and everything kept for it (sequence, history, dedup
  // fingerprints). A channel created again starts at seq 1.
  virtual Status DeleteChannel(std::string_view id) = 0;
  virtual Status LoadChannels(std::vector<ChannelConfig>* out) = 0;

  // Everything a sync reply needs, read as one consistent view.
  struct SyncQuery {
    std::string channel;
    std::string user;
    uint64_t after = 0;
    size_t limit = 0;
    int64_t now_ms = 0;
    HistoryLimits limits;
  };
  struct SyncSnapshot {
    uint64_t head = 0;         // highest seq assigned (0 when none)
    std::string epoch;         // changes whenever the channel's sequence starts again
    Watermarks marks;          // the user's watermarks
    std::vector<StoredMessage> page;  // up to `limit` messages with seq > after, in seq order
    uint64_t first_kept = 0;   // lowest seq still stored after retention (head + 1 when none)
  };
  using SyncCallback = std::function<void(const Status& status, const SyncSnapshot& snapshot)>;
  // Drops what retention no longer keeps at now_ms, then reads. `done` runs
  // exactly once, on the broker thread: before the call returns for a local
  // store, from PollCompletions() for a remote one.
  virtual void ReadSync(const SyncQuery& query, SyncCallback done) = 0;

  using WatermarkCallback = std::function<void(const Status& status, const Watermarks& now, bool advanced)>;
  // Raises the user's `kind` watermark to max(old, min(upto, head)). A read
  // watermark also raises delivered to at least itself (read implies
  // delivered). `advanced`: whether the `kind` watermark moved. `done` runs
  // exactly once, as for ReadSync.
  virtual void AdvanceWatermark(std::string_view channel, std::string_view user, ReceiptKind kind, uint64_t upto,
                                WatermarkCallback done) = 0;

  // Called on every broker tick: delivers outcomes of kPending calls and
  // finishes deferred work (a group commit). An error says the store is
  // failing; the caller logs changes of that state.
  virtual Status PollCompletions() { return Status::Ok(); }

  // ---- Cluster: stores whose state other nodes share. The defaults are a
  // single node's: nothing to share, nobody else to hear from.

  // True when other nodes share this store. Chat messages are then
  // delivered only through ClusterListener::OnClusterMessage (on every node,
  // the accepting one too), never from Append's result.
  virtual bool clustered() const { return false; }
  // Where cluster events go (from PollCompletions, on the broker thread).
  virtual void SetListener(ClusterListener* /*listener*/) {}
  // A receipt or typing broadcast already delivered on this node, for the
  // subscribers on the other nodes. `kind` is the topic's last level.
  virtual void ShareEvent(std::string_view /*channel*/, std::string_view /*kind*/, std::string_view /*payload*/) {}
  // This node now has `devices` connected clients of `user`. The cluster-wide
  // presence comes back through ClusterListener::OnClusterPresence.
  virtual void ReportDevices(std::string_view /*user*/, uint64_t /*devices*/, int64_t /*now_ms*/) {}
  // traceMessage: every node's count of subscribers the message (channel,
  // seq) was queued to. `here` is this node's; `done` gets node -> count,
  // for the nodes that answered within a short wait. One node: at once.
  using FanoutCallback = std::function<void(const Status& status, std::vector<std::pair<std::string, uint64_t>> counts)>;
  virtual void GatherFanout(std::string_view /*channel*/, uint64_t /*seq*/, std::string_view node, uint64_t here,
                            FanoutCallback done) {
    done(Status::Ok(), {{std::string(node), here}});
  }
  // Another node's GatherFanout asked (ClusterListener::OnClusterEvent with
  // kind "fanout"): this node's count.
  virtual void ReportFanout(std::string_view /*channel*/, uint64_t /*seq*/, uint64_t /*count*/) {}
};

}  // namespace chat
