// ChatService: the chat backend's decisions for every broker event, with no
// broker in sight. The plugin adapter (plugin/) turns Mosquitto events into
// these calls and their answers back into Mosquitto return codes; tests
// drive it directly.
//
// Threading: every method runs on the broker thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "chat/channel_registry.h"
#include "chat/fanout_counter.h"
#include "chat/cluster_listener.h"
#include "chat/env.h"
#include "chat/jwks_file.h"
#include "chat/latency_histogram.h"
#include "chat/log_level.h"
#include "chat/options.h"
#include "chat/presence_tracker.h"
#include "chat/rate_limiter.h"
#include "chat/typing_throttle.h"
#include "chat/store.h"
#include "chat/token_verifier.h"
#include "chat/topics.h"

namespace chat {

// Identity of one connection: stable from its authentication to its
// disconnection (the plugin uses the broker's client pointer).
using ClientKey = uintptr_t;

// A message the plugin publishes itself.
struct Outgoing {
  std::string client_id;  // empty: routed to every subscriber (READ checks apply)
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
};

// What the service needs from the broker.
class BrokerPort {
 public:
  virtual ~BrokerPort() = default;
  virtual void Publish(Outgoing message) = 0;
  virtual void Log(LogLevel level, const std::string& line) = 0;
  // Disconnects the client with this id, if it is connected here.
  virtual void Kick(const std::string& client_id) = 0;
};

enum class AuthVerdict { kAccept, kRefuse, kDefer };
struct AuthDecision {
  AuthVerdict verdict = AuthVerdict::kRefuse;
  std::string username;  // kAccept: the session's username (the token's sub)
};

enum class Access { kRead, kWrite, kSubscribe, kUnsubscribe };
enum class AclVerdict { kAllow, kDeny, kDefer };

enum class PublishVerdict {
  kPass,        // not a chat topic: leave the publish untouched
  kDeliver,     // deliver `payload` (replacing the client's) with `retain`
  kSuppress,    // acknowledge as success, deliver to nobody
  kRefuse,      // not stored, not delivered; acknowledged as refused
  kDisconnect,  // could not be stored: no acknowledgement, drop the publisher
};
struct PublishDecision {
  PublishVerdict verdict = PublishVerdict::kPass;
  std::string payload;
  bool retain = false;
};

class ChatService final : public ClusterListener {
 public:
  ChatService(const Options& options, Env* env, BrokerPort* broker, std::unique_ptr<Store> store);

  // Loads channels and keys. A failure here must stop the broker.
  Status Start();

  AuthDecision OnBasicAuth(ClientKey key, std::string_view client_id, const char* username, const char* password);
  // `payloadlen` and `payload` matter for kRead only: a suppressed message
  // is empty, and a retained presence document is checked for staleness.
  AclVerdict OnAclCheck(ClientKey key, Access access, std::string_view topic, size_t payloadlen,
                        std::string_view payload = {});
  PublishDecision OnPublish(ClientKey key, std::string_view client_id, std::string_view topic,
                            std::string_view payload, int qos, bool retain);
  // `clean` false: the broker keeps the session (offline persistent session)
  // and may route messages to it, so its identity is kept until it is
  // disconnected a second time (replaced at reconnect).
  void OnDisconnect(ClientKey key, bool clean);
  // SIGHUP: re-read keys; the broker re-checks every client's password next.
  void OnReload();
  // Every main-loop iteration (about 10 per second when idle).
  void OnTick();
  // $CONTROL/chat/v1 (chat_service_control.cc): runs the request's commands
  // for the client and replies, to that client only, on
  // $CONTROL/chat/v1/response once every command has answered (some answer
  // from the store later). Admins only; every error is per command.
  void OnControl(ClientKey key, std::string_view client_id, std::string_view payload);

  static constexpr std::string_view kControlTopic = "$CONTROL/chat/v1";
  static constexpr std::string_view kControlResponseTopic = "$CONTROL/chat/v1/response";

  const ChannelRegistry& channels() const { return channels_; }

  // What $SYS/broker/chat/... reports (see docs/operations.md).
  struct Stats {
    uint64_t accepted = 0;       // chat messages accepted (stored, or queued for the cluster)
    uint64_t deduplicated = 0;   // retries answered without a new seq
    uint64_t refused[6] = {};    // by RefusalCode
    uint64_t syncs = 0;          // sync requests answered
    uint64_t store_errors = 0;   // store calls that failed
    uint64_t control_commands = 0;
    // Append to its outcome (local: the store call; redis: until Redis
    // confirmed it): since the last $SYS publication, and since start.
    LatencyHistogram store_latency_us;
    LatencyHistogram store_latency_total_us;
  };
  const Stats& stats() const { return stats_; }

  // ClusterListener: events from the other nodes (clustered stores only).
  void OnClusterMessage(std::string_view channel, const StoredMessage& m) override;
  void OnClusterChannel(std::string_view id, const ChannelConfig* config) override;
  void OnClusterEvent(std::string_view channel, std::string_view kind, std::string_view payload) override;
  void OnClusterPresence(const Presence& p) override;
  void OnTokenConflict(std::string_view jti) override;
  void OnStoreLog(LogLevel level, const std::string& line) override { Log(level, line); }

 public:
  // A $CONTROL command, or its outcome ({"data": ...} or {"error": "..."}), as
  // JSON; defined in chat_service_control.cc, the only place that reads it.
  struct ControlJson;
  using ControlDone = std::function<void(const ControlJson& outcome)>;

 private:
  struct Session {
    std::string user;
    std::string client_id;
    size_t token_hash = 0;
    std::string jti;
    bool admin = false;
    bool online = true;
  };

  const Session* FindSession(ClientKey key) const;
  AclVerdict PlainVerdict() const;
  AclVerdict SubscribeVerdict(const Session* s, std::string_view filter) const;

  PublishDecision HandleChatMessage(const Session& s, std::string_view channel, std::string_view payload, int qos);
  PublishDecision HandleSync(const Session& s, std::string_view channel, std::string_view payload);
  void SendSyncReply(const std::string& client_id, const std::string& channel, uint64_t after, const Status& st,
                     const Store::SyncSnapshot& snap);
  PublishDecision HandleReceipt(const Session& s, const Channel& ch, std::string_view payload, int qos);
  PublishDecision HandleTyping(const Session& s, const Channel& ch, std::string_view payload, int qos);
  // Delivers `payload` on `topic` to the channel's subscribers: in place of
  // the client's publish, or (QoS 2) routed separately with the publish
  // suppressed, so that a QoS 2 resend before PUBREL matches what the
  // broker stored.
  PublishDecision DeliverToChannel(std::string topic, std::string payload, int qos);
  PublishDecision StoreFailure(const Session& s, std::string_view channel, const Status& st, std::string_view id);
  // This node's device count of a user changed: publish it (one node), or
  // report it to the cluster, which publishes the cluster-wide count.
  void PublishPresence(const Presence& p);
  // A retained "online" presence for a user with no device here is left
  // over from before a restart: deny it and replace it with "offline".
  bool IsStalePresence(std::string_view user, std::string_view payload);
  void EndSession(std::unordered_map<ClientKey, Session>::iterator it);
  PublishDecision HandleChannelDocument(const Session& s, std::string_view channel, std::string_view payload);
  // Applies a validated document (or a deletion: config null) everywhere it
  // lives: store, registry, and the retained document (routed publish).
  Status ApplyChannel(std::string_view id, const ChannelConfig* config, bool publish_retained);
  // The part after the store: registry and retained document.
  void ApplyChannelHere(std::string_view id, const ChannelConfig* config, bool publish_retained);
  // $CONTROL commands (chat_service_control.cc).
  void RunControlCommand(const Session& s, const ControlJson& command, ControlDone done);
  void PublishStats();
  void RecordStoreLatency(std::chrono::steady_clock::time_point started) {
    const auto us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count());
    stats_.store_latency_us.Record(us);
    stats_.store_latency_total_us.Record(us);
  }
  void TraceMessage(const std::string& channel, const HistoryLimits& limits, const std::vector<std::string>& members,
                    uint64_t seq, const std::string& id, uint64_t after, ControlDone done);
  // Disconnects every connected client whose session matches, logging `why`;
  // returns how many.
  size_t KickSessions(const std::function<bool(const Session&)>& match, std::string_view why);
  // Disconnects every client of `user` on this node; returns how many.
  size_t KickUserHere(std::string_view user);
  static constexpr std::string_view kKickKind = "kick";
  static constexpr std::string_view kFanoutKind = "fanout";
  PublishDecision RefuseChat(const Session& s, std::string_view channel, RefusalCode code,
                             std::string_view reason, std::string_view id);
  PublishDecision RefuseAdmin(const Session& s, std::string_view channel, std::string_view error);
  HistoryLimits LimitsFor(const Channel& ch) const;
  void RefreshKeys(bool force);
  void Log(LogLevel level, const std::string& line) { broker_->Log(level, line); }

  Options options_;
  Env* env_;
  BrokerPort* broker_;
  std::unique_ptr<Store> store_;
  TopicScheme topics_;
  TokenPolicy token_policy_;
  JwksFile jwks_;
  ChannelRegistry channels_;
  RateLimiter rate_limiter_;
  TypingThrottle typing_;
  PresenceTracker presence_;
  StringSet presence_healed_;  // users whose stale presence was replaced
  std::unordered_map<ClientKey, Session> sessions_;
  StringMap<Presence> cluster_presence_;  // clustered store: the last presence seen per user
  FanoutCounter fanout_;
  Stats stats_;
  int64_t next_stats_ms_ = 0;
  // READ checks come once per subscriber for the same message: the last
  // topic's parse and channel are kept (valid for one registry generation).
  struct ReadCache {
    std::string topic;
    TopicRef ref;  // views into `topic`
    const Channel* channel = nullptr;
    uint64_t generation = UINT64_MAX;
  };
  const ReadCache& ReadTopic(std::string_view topic);
  ReadCache read_cache_;

  bool reloading_ = false;
  bool store_failing_ = false;
  bool republish_channels_ = true;
  int64_t next_key_check_ms_ = 0;
  int64_t next_sweep_ms_ = 0;
};

}  // namespace chat
