#include "chat/feed_event.h"

#include <charconv>

namespace chat {
namespace {

// Splits off the next '|'-terminated field of *rest.
bool Next(std::string_view* rest, std::string_view* field) {
  size_t bar = rest->find('|');
  if (bar == std::string_view::npos) return false;
  *field = rest->substr(0, bar);
  rest->remove_prefix(bar + 1);
  return true;
}

template <typename T>
bool Number(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

bool ParseHistoryMember(std::string_view member, uint64_t* seq, std::string_view* entry) {
  std::string_view rest = member, seq_s, sts_s;
  uint64_t sts = 0;
  if (!Next(&rest, &seq_s) || !Next(&rest, &sts_s)) return false;
  if (!Number(seq_s, seq) || !Number(sts_s, &sts)) return false;
  *entry = rest;
  return true;
}

bool ParseFeedEvent(std::string_view payload, FeedEvent* out) {
  std::string_view rest = payload, type, a, b, c;
  if (!Next(&rest, &type) || type.size() != 1) return false;
  switch (type[0]) {
    case 'M': {
      std::string_view entry;
      if (!Next(&rest, &a) || !ParseHistoryMember(rest, &out->seq, &entry) || out->seq == 0) return false;
      out->type = FeedEvent::Type::kMessage;
      out->channel.assign(a);
      out->entry.assign(entry);
      return true;
    }
    case 'C':
      if (!Next(&rest, &a)) return false;
      out->type = FeedEvent::Type::kChannelSaved;
      out->channel.assign(a);
      out->entry.assign(rest);
      return true;
    case 'D':
      if (rest.empty()) return false;
      out->type = FeedEvent::Type::kChannelDeleted;
      out->channel.assign(rest);
      return true;
    case 'E':
      if (!Next(&rest, &a) || !Next(&rest, &b) || !Next(&rest, &c)) return false;
      out->type = FeedEvent::Type::kShared;
      out->node.assign(a);
      out->channel.assign(b);
      out->kind.assign(c);
      out->entry.assign(rest);
      return true;
    case 'P': {
      std::string_view devices;
      if (!Next(&rest, &a) || !Next(&rest, &b) || !Next(&rest, &devices)) return false;
      if (b != "online" && b != "offline") return false;
      if (!Number(devices, &out->presence.devices) || !Number(rest, &out->presence.since)) return false;
      out->type = FeedEvent::Type::kPresence;
      out->presence.user.assign(a);
      out->presence.online = b == "online";
      return true;
    }
    case 'J':
      if (!Next(&rest, &a) || !Next(&rest, &b) || !Number(b, &out->expires_ms) || rest.empty()) return false;
      out->type = FeedEvent::Type::kTokenClaim;
      out->node.assign(a);
      out->jti.assign(rest);
      return true;
    default:
      return false;
  }
}

std::string EncodeSharedEvent(std::string_view node, std::string_view channel, std::string_view kind,
                              std::string_view payload) {
  std::string s;
  s.reserve(8 + node.size() + channel.size() + kind.size() + payload.size());
  s.append("E|").append(node).append("|").append(channel).append("|").append(kind).append("|").append(payload);
  return s;
}

}  // namespace chat
