#include "chat/chat_service.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "chat/hex.h"

namespace chat {
namespace {

constexpr uint64_t kDefaultSyncLimit = 100;

}  // namespace

ChatService::ChatService(const Options& options, Env* env, BrokerPort* broker, std::unique_ptr<Store> store)
    : options_(options),
      env_(env),
      broker_(broker),
      store_(std::move(store)),
      topics_(options.topic_prefix),
      jwks_(options.jwks_file),
      rate_limiter_(options.rate_limit_per_s),
      typing_(options.typing_interval_ms) {
  token_policy_.max_lifetime_s = options.token_max_lifetime_s;
  token_policy_.leeway_s = options.token_leeway_s;
}

Status ChatService::Start() {
  std::vector<ChannelConfig> configs;
  Status s = store_->LoadChannels(&configs);
  if (!s.ok()) return Status(s);
  for (const auto& c : configs) channels_.Put(c);
  store_->SetListener(this);
  bool changed = false;
  s = jwks_.Refresh(/*force=*/true, &changed);
  if (!s.ok()) return Status::InvalidArgument("plugin_opt_jwks_file: " + s.message());
  if (options_.jwks_file.empty()) {
    Log(LogLevel::kWarning, "no plugin_opt_jwks_file: every connect token is refused");
  } else {
    Log(LogLevel::kInfo, "loaded " + std::to_string(jwks_.keys()->size()) + " key(s) from " + jwks_.path());
  }
  Log(LogLevel::kInfo, "serving " + std::to_string(channels_.size()) + " channel(s) under topic prefix '" +
                           options_.topic_prefix + "'");
  next_key_check_ms_ = env_->NowMs() + options_.jwks_check_interval_ms;
  next_stats_ms_ = env_->NowMs() + options_.sys_interval_s * 1000;
  return Status::Ok();
}

// ---------------------------------------------------------------- sessions

const ChatService::Session* ChatService::FindSession(ClientKey key) const {
  auto it = sessions_.find(key);
  return it == sessions_.end() ? nullptr : &it->second;
}

AuthDecision ChatService::OnBasicAuth(ClientKey key, std::string_view client_id, const char* username,
                                      const char* password) {
  std::string_view pw = password ? password : "";
  const size_t token_hash = std::hash<std::string_view>{}(pw);

  // A reload re-checks every known client with its original password: the
  // same token on the same connection is not a replay.
  if (reloading_) {
    auto it = sessions_.find(key);
    if (it != sessions_.end() && it->second.token_hash == token_hash) {
      return {AuthVerdict::kAccept, it->second.user};
    }
  }
  // A fresh authentication replaces whatever this key held.
  if (auto old = sessions_.find(key); old != sessions_.end()) EndSession(old);

  if (!LooksLikeJwt(pw)) {
    if (options_.auth_fallback) return {AuthVerdict::kDefer, {}};
    Log(LogLevel::kNotice, "refused client '" + std::string(client_id) + "': no connect token");
    return {AuthVerdict::kRefuse, {}};
  }
  const int64_t now_ms = env_->NowMs();
  TokenClaims claims;
  TokenError err = VerifyToken(pw, *jwks_.keys(), token_policy_, now_ms / 1000, &claims);
  if (err != TokenError::kNone) {
    Log(LogLevel::kNotice,
        "refused client '" + std::string(client_id) + "': token " + TokenErrorName(err));
    return {AuthVerdict::kRefuse, {}};
  }
  if (username != nullptr && username[0] != '\0' && claims.sub != username) {
    Log(LogLevel::kNotice, "refused client '" + std::string(client_id) + "': username '" + username +
                               "' is not the token's sub '" + claims.sub + "'");
    return {AuthVerdict::kRefuse, {}};
  }
  if (options_.token_single_use) {
    bool first_use = false;
    // The token verifies while now_s <= exp + leeway, i.e. until the last
    // millisecond of that second: remember the jti that long, not just to
    // the start of the second, or it could be replayed in that last second.
    const int64_t expires_ms = (claims.exp + options_.token_leeway_s + 1) * 1000 - 1;
    Status s = store_->ClaimTokenId(claims.jti, expires_ms, now_ms, &first_use);
    if (!s.ok()) {
      Log(LogLevel::kError, "refused client '" + std::string(client_id) + "': token store: " + s.ToString());
      return {AuthVerdict::kRefuse, {}};
    }
    if (!first_use) {
      Log(LogLevel::kNotice, "refused client '" + std::string(client_id) + "': token jti '" + claims.jti +
                                 "' already used (replay)");
      return {AuthVerdict::kRefuse, {}};
    }
  }
  Session s;
  s.user = claims.sub;
  s.client_id = std::string(client_id);
  s.token_hash = token_hash;
  s.jti = claims.jti;
  s.admin = claims.admin;
  sessions_.emplace(key, std::move(s));
  PublishPresence(presence_.Connected(claims.sub, now_ms));
  return {AuthVerdict::kAccept, claims.sub};
}

void ChatService::EndSession(std::unordered_map<ClientKey, Session>::iterator it) {
  if (it->second.online) PublishPresence(presence_.Disconnected(it->second.user, env_->NowMs()));
  sessions_.erase(it);
}

void ChatService::OnDisconnect(ClientKey key, bool clean) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  if (clean || !it->second.online) {
    EndSession(it);
  } else {
    // An offline persistent session: the device is gone, the identity stays
    // for messages queued to the session.
    it->second.online = false;
    PublishPresence(presence_.Disconnected(it->second.user, env_->NowMs()));
  }
}

void ChatService::PublishPresence(const Presence& p) {
  if (store_->clustered()) {
    store_->ReportDevices(p.user, p.devices, env_->NowMs());
    return;
  }
  presence_healed_.erase(p.user);
  broker_->Publish(Outgoing{"", TopicScheme::PresenceTopic(p.user), EncodePresence(p), 1, true});
}

bool ChatService::IsStalePresence(std::string_view user, std::string_view payload) {
  // In a cluster the store republishes every user's cluster-wide presence
  // whenever it (re)connects, which replaces whatever an earlier run left.
  if (store_->clustered() || presence_.Devices(user) > 0) return false;
  Presence p;
  if (!DecodePresence(payload, &p) || !p.online) return false;
  if (presence_healed_.insert(std::string(user)).second) {
    Log(LogLevel::kInfo, "presence of '" + std::string(user) + "' was left online by an earlier run; now offline");
    broker_->Publish(Outgoing{"", TopicScheme::PresenceTopic(user),
                              EncodePresence(Presence{std::string(user), false, 0, static_cast<uint64_t>(env_->NowMs())}),
                              1, true});
  }
  return true;
}

void ChatService::OnReload() {
  reloading_ = true;
  RefreshKeys(/*force=*/true);
}

void ChatService::RefreshKeys(bool force) {
  bool changed = false;
  Status s = jwks_.Refresh(force, &changed);
  if (!s.ok()) {
    Log(LogLevel::kError, s.message() + " (keeping the " + std::to_string(jwks_.keys()->size()) + " key(s) in use)");
  } else if (changed) {
    Log(LogLevel::kInfo, "loaded " + std::to_string(jwks_.keys()->size()) + " key(s) from " + jwks_.path());
  }
}

void ChatService::OnTick() {
  // The broker re-checks clients right after the reload event and before
  // this tick, in the same loop iteration.
  reloading_ = false;
  if (republish_channels_) {
    // The catalog is the truth: make the retained documents match it, even
    // when the broker's own retained store lost recent changes.
    republish_channels_ = false;
    for (const Channel* ch : channels_.List()) {
      broker_->Publish(Outgoing{"", TopicScheme::AdminChannelTopic(ch->config.id), ToChannelDocument(ch->config), 1, true});
    }
  }
  const int64_t now_ms = env_->NowMs();
  if (!options_.jwks_file.empty() && now_ms >= next_key_check_ms_) {
    next_key_check_ms_ = now_ms + options_.jwks_check_interval_ms;
    RefreshKeys(/*force=*/false);
  }
  if (options_.sys_interval_s > 0 && now_ms >= next_stats_ms_) {
    next_stats_ms_ = now_ms + options_.sys_interval_s * 1000;
    PublishStats();
  }
  if (now_ms >= next_sweep_ms_) {
    next_sweep_ms_ = now_ms + 10000;
    rate_limiter_.Sweep(now_ms);
    typing_.Sweep(now_ms);
  }
  Status st = store_->PollCompletions();
  if (!st.ok() && !store_failing_) {
    Log(LogLevel::kError, "store: " + st.ToString() + " (logged once until it recovers)");
  } else if (st.ok() && store_failing_) {
    Log(LogLevel::kNotice, "store: recovered");
  }
  store_failing_ = !st.ok();
}

// ---------------------------------------------------------------- ACL

AclVerdict ChatService::PlainVerdict() const {
  switch (options_.plain_topics) {
    case PlainTopics::kAllow: return AclVerdict::kAllow;
    case PlainTopics::kDefer: return AclVerdict::kDefer;
    case PlainTopics::kDeny: return AclVerdict::kDeny;
  }
  return AclVerdict::kDeny;
}

AclVerdict ChatService::SubscribeVerdict(const Session* s, std::string_view filter) const {
  using Scope = TopicScheme::FilterRef::Scope;
  TopicScheme::FilterRef f = topics_.ParseFilter(filter);
  switch (f.scope) {
    case Scope::kOther: return PlainVerdict();
    case Scope::kBroad: return s ? AclVerdict::kAllow : PlainVerdict();  // READ filters per message
    case Scope::kChatOne:
      return s && channels_.MayAccess(f.id, s->user) ? AclVerdict::kAllow : AclVerdict::kDeny;
    case Scope::kChatMany: return s ? AclVerdict::kAllow : AclVerdict::kDeny;
    case Scope::kPresence: return s ? AclVerdict::kAllow : AclVerdict::kDeny;
    case Scope::kAdmin: return s && s->admin ? AclVerdict::kAllow : AclVerdict::kDeny;
    case Scope::kInvalid: return AclVerdict::kDeny;
  }
  return AclVerdict::kDeny;
}

AclVerdict ChatService::OnAclCheck(ClientKey key, Access access, std::string_view topic, size_t payloadlen,
                                   std::string_view payload) {
  if (access == Access::kUnsubscribe) return AclVerdict::kAllow;
  const Session* s = FindSession(key);
  if (access == Access::kSubscribe) return SubscribeVerdict(s, topic);
  // $CONTROL/chat/v1: any chat client may ask; OnControl answers non-admins
  // with an error per command.
  if (access == Access::kWrite && topic == kControlTopic) return s ? AclVerdict::kAllow : AclVerdict::kDeny;
  if (access == Access::kRead) {
    // The hot path: once per subscriber per message.
    const ReadCache& c = ReadTopic(topic);
    if (IsChatKind(c.ref.kind) && c.ref.kind != TopicKind::kChatError && c.ref.kind != TopicKind::kChatInvalid) {
      if (s == nullptr || payloadlen == 0) return AclVerdict::kDeny;  // empty: a suppressed publish
      if (!ChannelRegistry::MayAccess(c.channel, s->user)) return AclVerdict::kDeny;
      if (c.ref.kind == TopicKind::kChatMsg) fanout_.CountDelivery(c.ref.id, payload);
      return AclVerdict::kAllow;
    }
  }

  const TopicRef ref = topics_.Parse(topic);
  switch (ref.kind) {
    case TopicKind::kOther:
      return PlainVerdict();
    case TopicKind::kChatMsg:
    case TopicKind::kChatReceipt:
    case TopicKind::kChatTyping:
    case TopicKind::kChatSync:
      if (s == nullptr) return AclVerdict::kDeny;
      if (access == Access::kWrite) return AclVerdict::kAllow;  // membership is judged in OnPublish, with an error reply
      // READ: runs once per subscriber per message. An empty payload is a
      // suppressed publish (a retry, a request): nobody receives it.
      if (payloadlen == 0) return AclVerdict::kDeny;
      return channels_.MayAccess(ref.id, s->user) ? AclVerdict::kAllow : AclVerdict::kDeny;
    case TopicKind::kPresence:
      if (access != Access::kRead || s == nullptr) return AclVerdict::kDeny;
      return IsStalePresence(ref.id, payload) ? AclVerdict::kDeny : AclVerdict::kAllow;
    case TopicKind::kAdminChannel:
      if (s == nullptr) return AclVerdict::kDeny;
      if (access == Access::kWrite) return AclVerdict::kAllow;  // admin rights judged in OnPublish, with an error reply
      return s->admin ? AclVerdict::kAllow : AclVerdict::kDeny;
    case TopicKind::kChatError:       // sent to one client directly, never routed
    case TopicKind::kAdminError:
    case TopicKind::kChatInvalid:
    case TopicKind::kPresenceInvalid:
    case TopicKind::kAdminInvalid:
      return AclVerdict::kDeny;
  }
  return AclVerdict::kDeny;
}

const ChatService::ReadCache& ChatService::ReadTopic(std::string_view topic) {
  ReadCache& c = read_cache_;
  if (c.generation != channels_.generation() || c.topic != topic) {
    c.topic.assign(topic);
    c.ref = topics_.Parse(c.topic);
    c.channel = IsChatKind(c.ref.kind) ? channels_.Find(c.ref.id) : nullptr;
    c.generation = channels_.generation();
  }
  return c;
}

// ---------------------------------------------------------------- publish

PublishDecision ChatService::OnPublish(ClientKey key, std::string_view /*client_id*/, std::string_view topic,
                                       std::string_view payload, int qos, bool /*retain*/) {
  const TopicRef ref = topics_.Parse(topic);
  if (ref.kind == TopicKind::kOther) return {PublishVerdict::kPass, {}, false};
  const Session* s = FindSession(key);
  if (s == nullptr) return {PublishVerdict::kRefuse, {}, false};  // the ACL already refuses this
  switch (ref.kind) {
    case TopicKind::kChatMsg:
      return HandleChatMessage(*s, ref.id, payload, qos);
    case TopicKind::kChatReceipt:
    case TopicKind::kChatTyping:
    case TopicKind::kChatSync: {
      const Channel* ch = channels_.Find(ref.id);
      if (ch == nullptr || !channels_.MayAccess(ref.id, s->user)) {
        return RefuseChat(*s, ref.id, RefusalCode::kNotMember, "not a member of this channel", {});
      }
      if (ref.kind == TopicKind::kChatSync) return HandleSync(*s, ref.id, payload);
      if (ref.kind == TopicKind::kChatReceipt) return HandleReceipt(*s, *ch, payload, qos);
      return HandleTyping(*s, *ch, payload, qos);
    }
    case TopicKind::kAdminChannel:
      return HandleChannelDocument(*s, ref.id, payload);
    default:
      return {PublishVerdict::kRefuse, {}, false};
  }
}

PublishDecision ChatService::RefuseChat(const Session& s, std::string_view channel, RefusalCode code,
                                        std::string_view reason, std::string_view id) {
  ++stats_.refused[static_cast<int>(code)];
  Log(LogLevel::kNotice, "refused publish from '" + s.client_id + "' (" + s.user + ") to channel '" +
                             std::string(channel) + "': " + RefusalCodeName(code) + ": " + std::string(reason));
  broker_->Publish(Outgoing{s.client_id, topics_.ChatTopic(channel, "error"), EncodeError(code, reason, id), 1, false});
  return {PublishVerdict::kRefuse, {}, false};
}

HistoryLimits ChatService::LimitsFor(const Channel& ch) const {
  HistoryLimits l;
  l.max_count = ch.config.history_max.value_or(options_.history_max);
  l.max_age_ms = ch.config.history_max_age_s.value_or(options_.history_max_age_s) * 1000;
  return l;
}

PublishDecision ChatService::HandleChatMessage(const Session& s, std::string_view channel, std::string_view payload,
                                               int qos) {
  const Channel* ch = channels_.Find(channel);
  if (payload.size() > options_.PayloadLimit()) {
    return RefuseChat(s, channel, RefusalCode::kTooLarge,
                      "payload exceeds " + std::to_string(options_.PayloadLimit()) + " bytes", {});
  }
  // Decoded before the membership check too: every refusal carries the id.
  ClientMessage msg;
  DecodeOutcome decoded = DecodeClientMessage(payload, options_.max_body_bytes, &msg);
  if (ch == nullptr || !channels_.MayAccess(channel, s.user)) {
    return RefuseChat(s, channel, RefusalCode::kNotMember, "not a member of this channel", decoded.id);
  }
  if (!decoded.ok) return RefuseChat(s, channel, decoded.code, decoded.reason, decoded.id);

  const int64_t now_ms = env_->NowMs();
  const int64_t window_ms = options_.replay_window_s * 1000;
  const int64_t ts = msg.ts > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(msg.ts);
  if (ts < now_ms - window_ms || ts > now_ms + window_ms) {
    return RefuseChat(s, channel, RefusalCode::kStale, "ts is outside the replay window", msg.id);
  }
  if (!rate_limiter_.Allow(s.user, now_ms)) {
    return RefuseChat(s, channel, RefusalCode::kRateLimited, "too many messages", msg.id);
  }

  AppendRequest req;
  req.channel = channel;
  req.message = &msg;
  req.from = s.user;
  req.now_ms = now_ms;
  req.limits = LimitsFor(*ch);
  req.client = s.client_id;
  req.node = options_.node_id;
  const auto started = std::chrono::steady_clock::now();
  AppendResult r = store_->Append(
      req, [this, qos, started](std::string_view channel_id, const AppendResult& later, const StoredMessage& m) {
        RecordStoreLatency(started);
        if (later.status == AppendStatus::kAccepted) ++stats_.accepted;
        if (later.status == AppendStatus::kDuplicate) ++stats_.deduplicated;
        if (later.status == AppendStatus::kFailed) ++stats_.store_errors;
        // A clustered store delivers through OnClusterMessage, on every node.
        if (later.status != AppendStatus::kAccepted || store_->clustered()) return;
        broker_->Publish(Outgoing{"", topics_.ChatTopic(channel_id, "msg"),
                                  EncodeDelivery(m.fields, Stamp{m.seq, m.from, m.sts, channel_id}), qos, false});
      });
  if (r.status != AppendStatus::kPending) RecordStoreLatency(started);
  if (r.status == AppendStatus::kAccepted) ++stats_.accepted;
  if (r.status == AppendStatus::kDuplicate) ++stats_.deduplicated;
  switch (r.status) {
    case AppendStatus::kAccepted:
      return DeliverToChannel(topics_.ChatTopic(channel, "msg"),
                              EncodeDelivery(msg.fields, Stamp{r.seq, s.user, static_cast<uint64_t>(now_ms), channel}),
                              qos);
    case AppendStatus::kDuplicate:
    case AppendStatus::kPending:
      return {PublishVerdict::kSuppress, {}, false};
    case AppendStatus::kFailed:
      return StoreFailure(s, channel, r.error, msg.id);
  }
  return StoreFailure(s, channel, r.error, msg.id);
}

PublishDecision ChatService::DeliverToChannel(std::string topic, std::string payload, int qos) {
  if (qos < 2) return {PublishVerdict::kDeliver, std::move(payload), false};
  broker_->Publish(Outgoing{"", std::move(topic), std::move(payload), qos, false});
  return {PublishVerdict::kSuppress, {}, false};
}

PublishDecision ChatService::StoreFailure(const Session& s, std::string_view channel, const Status& st,
                                          std::string_view id) {
  ++stats_.store_errors;
  Log(LogLevel::kError, "store failed for a publish of '" + s.client_id + "' in channel '" + std::string(channel) +
                            "'" + (id.empty() ? "" : " (id " + HexEncode(id) + ")") + ": " + st.ToString() +
                            "; not acknowledged, client disconnected");
  broker_->Publish(Outgoing{s.client_id, topics_.ChatTopic(channel, "error"),
                            EncodeError(RefusalCode::kUnavailable, "could not be stored", id), 1, false});
  return {PublishVerdict::kDisconnect, {}, false};
}

// ---------------------------------------------------------------- history, receipts, typing

PublishDecision ChatService::HandleSync(const Session& s, std::string_view channel, std::string_view payload) {
  SyncRequest req;
  std::string reason;
  if (!DecodeSyncRequest(payload, &req, &reason)) return RefuseChat(s, channel, RefusalCode::kMalformed, reason, {});
  const Channel* ch = channels_.Find(channel);
  const uint64_t limit = std::min<uint64_t>(req.limit.value_or(kDefaultSyncLimit), options_.sync_limit_max);
  Store::SyncQuery q;
  q.channel = std::string(channel);
  q.user = s.user;
  q.after = req.after;
  q.limit = limit;
  q.now_ms = env_->NowMs();
  q.limits = LimitsFor(*ch);
  // The reply may come later (a remote store): keep what it needs by value.
  store_->ReadSync(q, [this, client_id = s.client_id, after = req.after, channel = q.channel](
                          const Status& st, const Store::SyncSnapshot& snap) {
    SendSyncReply(client_id, channel, after, st, snap);
  });
  return {PublishVerdict::kSuppress, {}, false};  // the request itself reaches nobody
}

void ChatService::SendSyncReply(const std::string& client_id, const std::string& channel, uint64_t after,
                                const Status& st, const Store::SyncSnapshot& snap) {
  if (!st.ok()) {
    Log(LogLevel::kError, "sync of channel '" + channel + "' for '" + client_id + "' failed: " + st.ToString());
    broker_->Publish(Outgoing{client_id, topics_.ChatTopic(channel, "error"),
                              EncodeError(RefusalCode::kUnavailable, "history is unavailable", {}), 1, false});
    return;
  }
  ++stats_.syncs;
  const std::string msg_topic = topics_.ChatTopic(channel, "msg");
  for (const StoredMessage& m : snap.page) {
    broker_->Publish(Outgoing{client_id, msg_topic, EncodeDelivery(m.fields, Stamp{m.seq, m.from, m.sts, channel}),
                              1, false});
  }
  SyncReply reply;
  reply.after = after;
  reply.head = snap.head;
  reply.epoch = snap.epoch;
  reply.read = snap.marks.read;
  reply.delivered = snap.marks.delivered;
  if (snap.first_kept > after + 1 && after < snap.head) reply.trimmed = snap.first_kept;
  if (!snap.page.empty()) {
    reply.last = snap.page.back().seq;
  } else {
    // Nothing to send: the client may continue from here (past what
    // retention dropped, never past head).
    reply.last = std::max(after, std::min(snap.head, snap.first_kept - 1));
  }
  reply.more = reply.last < reply.head;
  broker_->Publish(Outgoing{client_id, topics_.ChatTopic(channel, "sync"), EncodeSyncReply(reply), 1, false});
}

PublishDecision ChatService::HandleReceipt(const Session& s, const Channel& ch, std::string_view payload, int qos) {
  const std::string& channel = ch.config.id;
  ReceiptRequest req;
  std::string reason;
  if (!DecodeReceipt(payload, &req, &reason)) return RefuseChat(s, channel, RefusalCode::kMalformed, reason, {});
  if (!ch.config.receipts) return {PublishVerdict::kSuppress, {}, false};  // switched off for this channel
  // The outcome may come before AdvanceWatermark returns (a local store:
  // answer the publish itself) or later (a remote store: publish anew).
  struct Pending {
    bool returned = false;
    std::optional<PublishDecision> decision;
  };
  auto pending = std::make_shared<Pending>();
  const bool broadcast = ch.config.type != ChannelType::kOpen;
  store_->AdvanceWatermark(
      channel, s.user, req.kind, req.upto,
      [this, pending, broadcast, qos, kind = req.kind, channel, user = s.user, client_id = s.client_id](
          const Status& st, const Watermarks& now, bool advanced) {
        PublishDecision d{PublishVerdict::kSuppress, {}, false};
        if (!st.ok()) {
          if (!pending->returned) {
            Session who;
            who.user = user;
            who.client_id = client_id;
            d = StoreFailure(who, channel, st, {});
          } else {
            Log(LogLevel::kError, "receipt of '" + client_id + "' in channel '" + channel + "' not stored: " +
                                      st.ToString());
            broker_->Publish(Outgoing{client_id, topics_.ChatTopic(channel, "error"),
                                      EncodeError(RefusalCode::kUnavailable, "could not be stored", {}), 1, false});
          }
        } else if (advanced && broadcast) {
          const uint64_t upto = kind == ReceiptKind::kRead ? now.read : now.delivered;
          std::string event = EncodeReceipt(kind, upto, user, static_cast<uint64_t>(env_->NowMs()), channel);
          store_->ShareEvent(channel, "receipt", event);
          if (!pending->returned) {
            d = DeliverToChannel(topics_.ChatTopic(channel, "receipt"), std::move(event), qos);
          } else {
            broker_->Publish(Outgoing{"", topics_.ChatTopic(channel, "receipt"), std::move(event), qos, false});
          }
        }
        pending->decision = std::move(d);
      });
  pending->returned = true;
  if (pending->decision) return std::move(*pending->decision);
  return {PublishVerdict::kSuppress, {}, false};
}

PublishDecision ChatService::HandleTyping(const Session& s, const Channel& ch, std::string_view payload, int qos) {
  const std::string& channel = ch.config.id;
  bool started = false;
  std::string reason;
  if (!DecodeTyping(payload, &started, &reason)) return RefuseChat(s, channel, RefusalCode::kMalformed, reason, {});
  const int64_t now_ms = env_->NowMs();
  if (!ch.config.typing || !typing_.Allow(channel, s.user, now_ms)) return {PublishVerdict::kSuppress, {}, false};
  std::string event = EncodeTyping(started, s.user, static_cast<uint64_t>(now_ms), channel);
  store_->ShareEvent(channel, "typing", event);
  return DeliverToChannel(topics_.ChatTopic(channel, "typing"), std::move(event), qos);
}

// ---------------------------------------------------------------- administration

PublishDecision ChatService::RefuseAdmin(const Session& s, std::string_view channel, std::string_view error) {
  Log(LogLevel::kNotice, "refused channel document for '" + std::string(channel) + "' from '" + s.client_id +
                             "' (" + s.user + "): " + std::string(error));
  nlohmann::json reply = {{"channel", channel}, {"error", error}};
  broker_->Publish(Outgoing{s.client_id, std::string(TopicScheme::kAdminErrorTopic), reply.dump(), 1, false});
  return {PublishVerdict::kRefuse, {}, false};
}

Status ChatService::ApplyChannel(std::string_view id, const ChannelConfig* config, bool publish_retained) {
  Status st = config ? store_->SaveChannel(*config) : store_->DeleteChannel(id);
  if (!st.ok()) {
    ++stats_.store_errors;
    return st;
  }
  ApplyChannelHere(id, config, publish_retained);
  return Status::Ok();
}

void ChatService::ApplyChannelHere(std::string_view id, const ChannelConfig* config, bool publish_retained) {
  if (config) {
    channels_.Put(*config);
  } else {
    channels_.Remove(id);
  }
  if (publish_retained) {
    broker_->Publish(Outgoing{"", TopicScheme::AdminChannelTopic(id), config ? ToChannelDocument(*config) : "", 1, true});
  }
}

PublishDecision ChatService::HandleChannelDocument(const Session& s, std::string_view channel,
                                                   std::string_view payload) {
  if (!s.admin) return RefuseAdmin(s, channel, "not an admin");
  if (payload.empty()) {
    Status st = ApplyChannel(channel, nullptr, /*publish_retained=*/false);
    if (!st.ok()) return RefuseAdmin(s, channel, "store failed: " + st.ToString());
    Log(LogLevel::kInfo, "channel '" + std::string(channel) + "' deleted by " + s.user);
    return {PublishVerdict::kDeliver, {}, true};  // the empty retained payload clears the document
  }
  if (payload.size() > options_.max_channel_doc_bytes) {
    return RefuseAdmin(s, channel, "document exceeds " + std::to_string(options_.max_channel_doc_bytes) + " bytes");
  }
  ChannelConfig config;
  Status st = ParseChannelDocument(channel, payload, ChannelDocLimits{}, &config);
  if (!st.ok()) return RefuseAdmin(s, channel, st.message());
  st = ApplyChannel(channel, &config, /*publish_retained=*/false);
  if (!st.ok()) return RefuseAdmin(s, channel, "store failed: " + st.ToString());
  Log(LogLevel::kInfo, "channel '" + config.id + "' (" + ChannelTypeName(config.type) + ", " +
                           std::to_string(config.members.size()) + " members) set by " + s.user);
  return {PublishVerdict::kDeliver, ToChannelDocument(config), true};
}

// ---------------------------------------------------------------- cluster

void ChatService::OnClusterMessage(std::string_view channel, const StoredMessage& m) {
  // The publisher's QoS stays on its node; other subscribers get QoS 1 (the
  // lower of it and their subscription's).
  broker_->Publish(Outgoing{"", topics_.ChatTopic(channel, "msg"),
                            EncodeDelivery(m.fields, Stamp{m.seq, m.from, m.sts, channel}), 1, false});
}

void ChatService::OnClusterChannel(std::string_view id, const ChannelConfig* config) {
  ApplyChannelHere(id, config, /*publish_retained=*/true);  // the store has it already
}

void ChatService::OnClusterEvent(std::string_view channel, std::string_view kind, std::string_view payload) {
  if (kind == kKickKind) {  // kickUser on another node: payload is the user
    KickUserHere(payload);
    return;
  }
  if (kind == kFanoutKind) {  // traceMessage on another node asks: payload is the seq
    uint64_t seq = std::strtoull(std::string(payload).c_str(), nullptr, 10);
    store_->ReportFanout(channel, seq, fanout_.Count(channel, seq));
    return;
  }
  if (channels_.Find(channel) == nullptr) return;
  const int qos = kind == "typing" ? 0 : 1;
  broker_->Publish(Outgoing{"", topics_.ChatTopic(channel, kind), std::string(payload), qos, false});
}

void ChatService::OnClusterPresence(const Presence& p) {
  cluster_presence_.insert_or_assign(p.user, p);
  broker_->Publish(Outgoing{"", TopicScheme::PresenceTopic(p.user), EncodePresence(p), 1, true});
}

size_t ChatService::KickSessions(const std::function<bool(const Session&)>& match, std::string_view why) {
  // Kicking fires the disconnect event, which ends the session: collect first.
  std::vector<std::string> to_kick;
  for (const auto& [key, session] : sessions_) {
    if (!session.online || !match(session)) continue;
    Log(LogLevel::kNotice, "disconnecting client '" + session.client_id + "' (" + session.user + "): " +
                               std::string(why));
    to_kick.push_back(session.client_id);
  }
  for (const std::string& client_id : to_kick) broker_->Kick(client_id);
  return to_kick.size();
}

void ChatService::OnTokenConflict(std::string_view jti) {
  KickSessions([jti](const Session& s) { return s.jti == jti; },
               "token jti '" + std::string(jti) + "' was used first on another node (replay)");
}

}  // namespace chat
