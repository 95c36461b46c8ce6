// The cluster feed's wire format: what the Lua scripts and the nodes
// publish on the Redis channel <prefix>feed, one event per pub/sub message.
// Fields are separated by '|'; ids never contain one (id grammar), and the
// one free-form field (an entry, a document, a payload, a jti) comes last.
//
//   M|<ch>|<seq>|<sts>|<entry>      a sequenced message (history member after "M|<ch>|")
//   C|<id>|<json document>          a channel document saved
//   D|<id>                          a channel deleted
//   E|<node>|<ch>|<kind>|<payload>  a receipt or typing broadcast from <node>
//   P|<user>|<status>|<devices>|<since>  a user's cluster-wide presence
//   J|<node>|<expires_ms>|<jti>     a token id claimed on <node>
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "chat/feature_codec.h"

namespace chat {

struct FeedEvent {
  enum class Type { kMessage, kChannelSaved, kChannelDeleted, kShared, kPresence, kTokenClaim };
  Type type = Type::kMessage;
  std::string channel;  // M, C, D, E: the channel id
  uint64_t seq = 0;     // M
  std::string entry;    // M: the stored entry (stored_message_codec.h); C: the document; E: the payload
  std::string node;     // E, J: the node that published it
  std::string kind;     // E: the topic's last level
  Presence presence;    // P
  std::string jti;      // J
  int64_t expires_ms = 0;  // J
};

// False when `payload` is not a well-formed event. Never throws.
bool ParseFeedEvent(std::string_view payload, FeedEvent* out);

// A history member "<seq>|<sts>|<entry>": its seq and entry.
bool ParseHistoryMember(std::string_view member, uint64_t* seq, std::string_view* entry);

// The E event a node publishes for its own receipts and typing.
std::string EncodeSharedEvent(std::string_view node, std::string_view channel, std::string_view kind,
                              std::string_view payload);

}  // namespace chat
