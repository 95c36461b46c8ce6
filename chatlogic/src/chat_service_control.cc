// ChatService: the $CONTROL/chat/v1 request/response API (spec section 6)
// and the $SYS statistics. Same shape as Mosquitto's dynamic-security
// plugin: {"commands":[{"command":..., "correlationData":..., args}]} in,
// {"responses":[{"command", "correlationData", "data"|"error"}]} out, one
// response per command, in order.
#include <memory>
#include <nlohmann/json.hpp>

#include "chat/chat_service.h"
#include "chat/hex.h"
#include "chat/message_codec.h"

namespace chat {

struct ChatService::ControlJson {
  nlohmann::json value;
};

namespace {

using json = nlohmann::json;
using ControlJson = ChatService::ControlJson;

constexpr size_t kMaxControlBytes = 1 << 20;
constexpr size_t kMaxCommands = 100;

ControlJson Data(json data) { return ControlJson{json{{"data", std::move(data)}}}; }
ControlJson Error(const std::string& why) { return ControlJson{json{{"error", why}}}; }

// A required string argument; false (with *error) when missing or not a string.
bool StringArg(const json& cmd, const char* name, std::string* out, std::string* error) {
  auto it = cmd.find(name);
  if (it == cmd.end() || !it->is_string()) {
    *error = std::string("'") + name + "' (a string) is required";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool UintArg(const json& cmd, const char* name, uint64_t fallback, uint64_t* out, std::string* error) {
  auto it = cmd.find(name);
  if (it == cmd.end()) {
    *out = fallback;
    return true;
  }
  if (!it->is_number_unsigned()) {
    *error = std::string("'") + name + "' must be a non-negative integer";
    return false;
  }
  *out = it->get<uint64_t>();
  return true;
}

json PresenceJson(const Presence& p) {
  return {{"user", p.user}, {"status", p.online ? "online" : "offline"}, {"devices", p.devices}, {"since", p.since}};
}

// A stored message for an operator: the delivered map as JSON, id in hex.
json MessageJson(std::string_view channel, const StoredMessage& m) {
  json j = json::from_msgpack(EncodeDelivery(m.fields, Stamp{m.seq, m.from, m.sts, channel}), true, false);
  if (j.is_discarded() || !j.is_object()) j = json::object();
  j["id"] = HexEncode(m.id);
  if (j.contains("body") && j["body"].is_binary()) j["body"] = HexEncode(std::string(j["body"].get_binary().begin(), j["body"].get_binary().end()));
  j.erase("meta");  // may hold binary values; history keeps it
  return j;
}

// Collects the responses of one request; replies when the last one is in.
struct ControlRequest {
  std::string client_id;
  std::vector<json> responses;
  size_t pending = 0;
};

}  // namespace

void ChatService::OnControl(ClientKey key, std::string_view client_id, std::string_view payload) {
  auto reply = [this, cid = std::string(client_id)](json responses) {
    broker_->Publish(Outgoing{cid, std::string(kControlResponseTopic), json{{"responses", std::move(responses)}}.dump(),
                              1, false});
  };
  const Session* s = FindSession(key);
  json request;
  if (payload.size() <= kMaxControlBytes) request = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (payload.size() > kMaxControlBytes || request.is_discarded() || !request.is_object() ||
      !request.contains("commands") || !request["commands"].is_array()) {
    Log(LogLevel::kNotice, "refused $CONTROL request from '" + std::string(client_id) + "': not a command list");
    reply(json::array({{{"command", ""}, {"error", payload.size() > kMaxControlBytes
                                                         ? "request too large"
                                                         : "expected {\"commands\": [...]}"}}}));
    return;
  }
  const json& commands = request["commands"];
  auto req = std::make_shared<ControlRequest>();
  req->client_id = std::string(client_id);
  req->responses.resize(commands.size());
  req->pending = commands.size() + 1;  // +1: released after the loop
  auto release = [req, reply]() {
    if (--req->pending == 0) reply(std::move(req->responses));
  };
  auto finish_one = [req, release](size_t i, json response) {
    req->responses[i] = std::move(response);
    release();
  };
  for (size_t i = 0; i < commands.size(); ++i) {
    const json& cmd = commands[i];
    json head = {{"command", cmd.is_object() && cmd.contains("command") && cmd["command"].is_string()
                                 ? cmd["command"].get<std::string>()
                                 : std::string()}};
    if (cmd.is_object() && cmd.contains("correlationData")) head["correlationData"] = cmd["correlationData"];
    ++stats_.control_commands;
    std::string refusal;
    if (i >= kMaxCommands) refusal = "too many commands in one request (at most " + std::to_string(kMaxCommands) + ")";
    else if (s == nullptr || !s->admin) refusal = "not an admin";
    else if (!cmd.is_object() || head["command"].get<std::string>().empty()) refusal = "a command needs a 'command' string";
    if (!refusal.empty()) {
      head["error"] = refusal;
      finish_one(i, std::move(head));
      continue;
    }
    RunControlCommand(*s, ControlJson{cmd}, [finish_one, i, head](const ControlJson& outcome) mutable {
      const json& o = outcome.value;
      if (o.contains("data")) {
        head["data"] = o["data"];
      } else {
        head["error"] = o.contains("error") ? o["error"] : json("failed");
      }
      finish_one(i, std::move(head));
    });
  }
  release();  // the +1: replies now if every command answered at once
}

size_t ChatService::KickUserHere(std::string_view user) {
  return KickSessions([user](const Session& s) { return s.user == user; }, "kickUser");
}

void ChatService::RunControlCommand(const Session& s, const ControlJson& command, ControlDone done) {
  const json& cmd = command.value;
  const std::string name = cmd["command"].get<std::string>();
  std::string error;
  std::string channel, user;
  const int64_t now_ms = env_->NowMs();

  if (name == "listChannels") {
    json list = json::array();
    for (const Channel* ch : channels_.List()) {
      list.push_back({{"channel", ch->config.id},
                      {"type", ChannelTypeName(ch->config.type)},
                      {"members", ch->config.members.size()}});
    }
    return done(Data({{"channels", std::move(list)}}));
  }
  if (name == "getChannel") {
    if (!StringArg(cmd, "channel", &channel, &error)) return done(Error(error));
    const Channel* ch = channels_.Find(channel);
    if (ch == nullptr) return done(Error("no such channel"));
    return done(Data({{"channel", channel}, {"doc", json::parse(ToChannelDocument(ch->config))}}));
  }
  if (name == "setChannel") {
    if (!StringArg(cmd, "channel", &channel, &error)) return done(Error(error));
    auto doc = cmd.find("doc");
    if (doc == cmd.end() || !(doc->is_object() || doc->is_string())) {
      return done(Error("'doc' (the channel document, an object) is required"));
    }
    const std::string text = doc->is_string() ? doc->get<std::string>() : doc->dump();
    if (text.size() > options_.max_channel_doc_bytes) return done(Error("document too large"));
    ChannelConfig config;
    Status st = ParseChannelDocument(channel, text, ChannelDocLimits{}, &config);
    if (!st.ok()) return done(Error(st.message()));
    st = ApplyChannel(channel, &config, /*publish_retained=*/true);
    if (!st.ok()) return done(Error("store failed: " + st.ToString()));
    Log(LogLevel::kInfo, "channel '" + channel + "' set by " + s.user + " ($CONTROL)");
    return done(Data({{"channel", channel}, {"doc", json::parse(ToChannelDocument(config))}}));
  }
  if (name == "deleteChannel") {
    if (!StringArg(cmd, "channel", &channel, &error)) return done(Error(error));
    if (channels_.Find(channel) == nullptr) return done(Error("no such channel"));
    Status st = ApplyChannel(channel, nullptr, /*publish_retained=*/true);
    if (!st.ok()) return done(Error("store failed: " + st.ToString()));
    Log(LogLevel::kInfo, "channel '" + channel + "' deleted by " + s.user + " ($CONTROL)");
    return done(Data({{"channel", channel}}));
  }
  if (name == "getPresence") {
    if (!StringArg(cmd, "user", &user, &error)) return done(Error(error));
    Presence p{user, false, 0, 0};
    if (store_->clustered()) {
      if (auto it = cluster_presence_.find(user); it != cluster_presence_.end()) p = it->second;
    } else {
      p.devices = presence_.Devices(user);
      p.online = p.devices > 0;
    }
    return done(Data(PresenceJson(p)));
  }
  if (name == "getHistory") {
    uint64_t after = 0, limit = 0;
    if (!StringArg(cmd, "channel", &channel, &error) || !UintArg(cmd, "after", 0, &after, &error) ||
        !UintArg(cmd, "limit", 100, &limit, &error)) {
      return done(Error(error));
    }
    const Channel* ch = channels_.Find(channel);
    if (ch == nullptr) return done(Error("no such channel"));
    Store::SyncQuery q;
    q.channel = channel;
    q.user = s.user;
    q.after = after;
    q.limit = std::min<uint64_t>(limit, options_.sync_limit_max);
    q.now_ms = now_ms;
    q.limits = LimitsFor(*ch);
    store_->ReadSync(q, [done, channel](const Status& st, const Store::SyncSnapshot& snap) {
      if (!st.ok()) return done(Error("store failed: " + st.ToString()));
      json messages = json::array();
      for (const StoredMessage& m : snap.page) messages.push_back(MessageJson(channel, m));
      json data = {{"channel", channel}, {"head", snap.head}, {"epoch", snap.epoch}, {"messages", std::move(messages)}};
      if (snap.first_kept > 1) data["first_kept"] = snap.first_kept;
      done(Data(std::move(data)));
    });
    return;
  }
  if (name == "getUnread") {
    if (!StringArg(cmd, "user", &user, &error)) return done(Error(error));
    std::vector<std::string> mine;
    for (const Channel* ch : channels_.List()) {
      if (ch->config.type != ChannelType::kOpen && ChannelRegistry::MayAccess(ch, user)) mine.push_back(ch->config.id);
    }
    struct Join {
      json channels = json::object();
      uint64_t total = 0;
      size_t pending = 0;
      std::string error;
    };
    auto join = std::make_shared<Join>();
    join->pending = mine.size() + 1;
    auto finish = [join, done, user]() {
      if (--join->pending != 0) return;
      if (!join->error.empty()) return done(Error(join->error));
      done(Data({{"user", user}, {"channels", join->channels}, {"total", join->total}}));
    };
    for (const std::string& id : mine) {
      Store::SyncQuery q;
      q.channel = id;
      q.user = user;
      q.now_ms = 0;  // read nothing, trim nothing
      store_->ReadSync(q, [join, finish, id](const Status& st, const Store::SyncSnapshot& snap) {
        if (!st.ok()) {
          join->error = "store failed: " + st.ToString();
        } else {
          const uint64_t unread = snap.head > snap.marks.read ? snap.head - snap.marks.read : 0;
          join->channels[id] = {{"head", snap.head}, {"read", snap.marks.read}, {"unread", unread}};
          join->total += unread;
        }
        finish();
      });
    }
    finish();
    return;
  }
  if (name == "kickUser") {
    if (!StringArg(cmd, "user", &user, &error)) return done(Error(error));
    const size_t here = KickUserHere(user);
    store_->ShareEvent("$", kKickKind, user);  // the other nodes kick theirs
    return done(Data({{"user", user}, {"kicked_here", here}}));
  }
  if (name == "revokeToken") {
    std::string jti;
    if (!StringArg(cmd, "jti", &jti, &error)) return done(Error(error));
    // Claimed as used for as long as any token could be valid.
    const int64_t until = now_ms + (options_.token_max_lifetime_s + 2 * options_.token_leeway_s + 1) * 1000;
    bool first = false;
    Status st = store_->ClaimTokenId(jti, until, now_ms, &first);
    if (!st.ok()) return done(Error("store failed: " + st.ToString()));
    Log(LogLevel::kNotice, "token jti '" + jti + "' revoked by " + s.user);
    const size_t kicked = KickSessions([&jti](const Session& k) { return k.jti == jti; }, "its token was revoked");
    return done(Data({{"jti", jti}, {"was_unused", first}, {"kicked_here", kicked}}));
  }
  if (name == "getStats") {
    json refused = json::object();
    for (int c = 0; c <= static_cast<int>(RefusalCode::kUnavailable); ++c) {
      refused[RefusalCodeName(static_cast<RefusalCode>(c))] = stats_.refused[c];
    }
    return done(Data({{"messages_accepted", stats_.accepted},
                      {"messages_deduplicated", stats_.deduplicated},
                      {"messages_refused", refused},
                      {"syncs", stats_.syncs},
                      {"store_latency_us", {{"samples", stats_.store_latency_total_us.count()},
                                            {"p50", stats_.store_latency_total_us.Percentile(0.5)},
                                            {"p99", stats_.store_latency_total_us.Percentile(0.99)},
                                            {"max", stats_.store_latency_total_us.Percentile(1.0)}}},
                      {"store_errors", stats_.store_errors},
                      {"users_online_here", presence_.online_users()},
                      {"clients_here", sessions_.size()},
                      {"channels", channels_.size()}}));
  }
  if (name == "sendMessage") {
    std::string body, id_hex;
    if (!StringArg(cmd, "channel", &channel, &error) || !StringArg(cmd, "user", &user, &error) ||
        !StringArg(cmd, "body", &body, &error)) {
      return done(Error(error));
    }
    const Channel* ch = channels_.Find(channel);
    if (ch == nullptr || !ChannelRegistry::MayAccess(ch, user)) return done(Error("not_member: " + user + " is not a member"));
    ClientMessage msg;
    if (cmd.contains("id")) {
      if (!cmd["id"].is_string() || !HexDecode(cmd["id"].get<std::string>(), &msg.id) ||
          msg.id.size() < kMinIdBytes || msg.id.size() > kMaxIdBytes) {
        return done(Error("malformed: 'id' must be 8 to 32 bytes in hex"));
      }
    } else {
      msg.id.resize(16);
      env_->RandomBytes(msg.id.data(), msg.id.size());
    }
    if (body.size() > options_.max_body_bytes) return done(Error("too_large: body exceeds max_body_bytes"));
    msg.ts = static_cast<uint64_t>(now_ms);
    // The fields a client would send: body (and type), packed as the codec keeps them.
    json fields = {{"body", body}};
    if (cmd.contains("type") && cmd["type"].is_string()) fields["type"] = cmd["type"];
    std::vector<uint8_t> packed = json::to_msgpack(fields);
    // to_msgpack gives a map: drop its header (fixmap: one byte for < 16 keys).
    msg.fields.packed.assign(packed.begin() + 1, packed.end());
    msg.fields.count = static_cast<uint32_t>(fields.size());
    AppendRequest req;
    req.channel = channel;
    req.message = &msg;
    req.from = user;
    req.now_ms = now_ms;
    req.limits = LimitsFor(*ch);
    const std::string via = "$CONTROL:" + s.client_id;  // outlives the Append call
    req.client = via;
    req.node = options_.node_id;
    const std::string id_out = HexEncode(msg.id);
    const auto started = std::chrono::steady_clock::now();
    AppendResult r = store_->Append(req, [this, done, id_out, started](std::string_view ch_id,
                                                                        const AppendResult& later,
                                                                        const StoredMessage& m) {
      RecordStoreLatency(started);
      if (later.status == AppendStatus::kFailed) return done(Error("unavailable: " + later.error.ToString()));
      if (later.status == AppendStatus::kAccepted) ++stats_.accepted;
      if (later.status == AppendStatus::kDuplicate) ++stats_.deduplicated;
      if (later.status == AppendStatus::kAccepted && !store_->clustered()) {
        broker_->Publish(Outgoing{"", topics_.ChatTopic(ch_id, "msg"),
                                  EncodeDelivery(m.fields, Stamp{m.seq, m.from, m.sts, ch_id}), 1, false});
      }
      done(Data({{"channel", std::string(ch_id)}, {"seq", later.seq}, {"id", id_out},
                 {"duplicate", later.status == AppendStatus::kDuplicate}}));
    });
    if (r.status != AppendStatus::kPending) RecordStoreLatency(started);
    switch (r.status) {
      case AppendStatus::kAccepted:
        ++stats_.accepted;
        broker_->Publish(Outgoing{"", topics_.ChatTopic(channel, "msg"),
                                  EncodeDelivery(msg.fields, Stamp{r.seq, user, static_cast<uint64_t>(now_ms), channel}),
                                  1, false});
        return done(Data({{"channel", channel}, {"seq", r.seq}, {"id", id_out}, {"duplicate", false}}));
      case AppendStatus::kDuplicate:
        ++stats_.deduplicated;
        return done(Data({{"channel", channel}, {"seq", r.seq}, {"id", id_out}, {"duplicate", true}}));
      case AppendStatus::kFailed:
        ++stats_.store_errors;
        return done(Error("unavailable: " + r.error.ToString()));
      case AppendStatus::kPending:
        return;  // the callback answers
    }
    return;
  }
  if (name == "traceMessage") {
    uint64_t seq = 0;
    std::string id_hex, id;
    if (!StringArg(cmd, "channel", &channel, &error) || !UintArg(cmd, "seq", 0, &seq, &error)) return done(Error(error));
    if (cmd.contains("id")) {
      if (!cmd["id"].is_string() || !HexDecode(cmd["id"].get<std::string>(), &id) || id.empty()) {
        return done(Error("'id' must be hex"));
      }
    }
    if (seq == 0 && id.empty()) return done(Error("'seq' or 'id' is required"));
    const Channel* ch = channels_.Find(channel);
    if (ch == nullptr) return done(Error("no such channel"));
    TraceMessage(channel, LimitsFor(*ch), ch->config.members, seq, id, seq > 0 ? seq - 1 : 0, std::move(done));
    return;
  }
  done(Error("unknown command '" + name + "'"));
}

void ChatService::TraceMessage(const std::string& channel, const HistoryLimits& limits,
                               const std::vector<std::string>& members, uint64_t seq, const std::string& id,
                               uint64_t after, ControlDone done) {
  // Finds the message in history (by seq: one read; by id: page by page),
  // then reads every member's watermarks.
  Store::SyncQuery q;
  q.channel = channel;
  q.user = "";
  q.after = after;
  q.limit = seq > 0 ? 1 : options_.sync_limit_max;
  q.now_ms = env_->NowMs();
  q.limits = limits;
  store_->ReadSync(q, [this, channel, limits, members, seq, id, done](const Status& st,
                                                                      const Store::SyncSnapshot& snap) {
    if (!st.ok()) return done(Error("store failed: " + st.ToString()));
    const StoredMessage* found = nullptr;
    for (const StoredMessage& m : snap.page) {
      if ((seq > 0 && m.seq == seq) || (seq == 0 && m.id == id)) found = &m;
    }
    if (found == nullptr) {
      if (seq == 0 && !snap.page.empty() && snap.page.back().seq < snap.head) {
        return TraceMessage(channel, limits, members, 0, id, snap.page.back().seq, done);
      }
      return done(Error("not in history (never stored, or dropped by retention)"));
    }
    json trace = MessageJson(channel, *found);
    json out = {{"ch", channel},        {"seq", found->seq},     {"id", HexEncode(found->id)},
                {"from", found->from},  {"client", found->client}, {"node", found->node},
                {"ts", trace.value("ts", json())},                 {"sts", found->sts},
                {"stored_ms", found->stored_ms}};
    struct Join {
      json out;
      json delivered = json::array(), read = json::array(), pending = json::array();
      size_t waiting = 0;
      std::string error;
    };
    auto join = std::make_shared<Join>();
    join->out = std::move(out);
    join->waiting = members.size() + 2;  // members, the fanout, and the loop below
    const uint64_t target = found->seq;
    auto finish = [join, done]() {
      if (--join->waiting != 0) return;
      if (!join->error.empty()) return done(Error(join->error));
      if (!join->out.contains("fanout")) join->out["fanout"] = json::object();
      join->out["delivered"] = join->delivered;
      join->out["read"] = join->read;
      join->out["pending"] = join->pending;
      done(Data(std::move(join->out)));
    };
    store_->GatherFanout(channel, target, options_.node_id, fanout_.Count(channel, target),
                         [join, finish](const Status& fst, std::vector<std::pair<std::string, uint64_t>> counts) {
                           json fanout = json::object();
                           if (fst.ok()) {
                             for (const auto& [node, n] : counts) fanout[node] = n;
                           }
                           join->out["fanout"] = std::move(fanout);
                           finish();
                         });
    for (const std::string& member : members) {
      Store::SyncQuery mq;
      mq.channel = channel;
      mq.user = member;
      store_->ReadSync(mq, [join, finish, member, target](const Status& mst, const Store::SyncSnapshot& ms) {
        if (!mst.ok()) {
          join->error = "store failed: " + mst.ToString();
        } else {
          if (ms.marks.delivered >= target) join->delivered.push_back(member);
          if (ms.marks.read >= target) join->read.push_back(member);
          if (ms.marks.delivered < target && ms.marks.read < target) join->pending.push_back(member);
        }
        finish();
      });
    }
    finish();
  });
}

void ChatService::PublishStats() {
  const std::string base = "$SYS/broker/chat/";
  auto put = [&](const std::string& name, uint64_t value) {
    broker_->Publish(Outgoing{"", base + name, std::to_string(value), 0, true});
  };
  put("messages/accepted", stats_.accepted);
  put("messages/deduplicated", stats_.deduplicated);
  for (int c = 0; c <= static_cast<int>(RefusalCode::kUnavailable); ++c) {
    put(std::string("messages/refused/") + RefusalCodeName(static_cast<RefusalCode>(c)), stats_.refused[c]);
  }
  put("syncs", stats_.syncs);
  put("store/errors", stats_.store_errors);
  put("users/online", presence_.online_users());
  put("clients", sessions_.size());
  put("channels", channels_.size());
  put("control/commands", stats_.control_commands);
  // Latency of the interval that just ended (bucket bounds, microseconds).
  put("store/latency/samples", stats_.store_latency_us.count());
  put("store/latency/p50_us", stats_.store_latency_us.Percentile(0.5));
  put("store/latency/p99_us", stats_.store_latency_us.Percentile(0.99));
  put("store/latency/max_us", stats_.store_latency_us.Percentile(1.0));
  stats_.store_latency_us.Reset();
}

}  // namespace chat
