// MessagePack codec for chat payloads (spec sections 3 and 4).
//
// A client message is a map with id (bin, 8..32 bytes), ts (uint), body
// (str or bin), optional type (str) and meta (map), plus any unknown keys,
// which are kept. Keys the plugin sets (seq, from, sts, ch) are dropped from
// the client's map and written by the plugin.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chat {

// The error codes of spec section 4.
enum class RefusalCode { kNotMember, kMalformed, kTooLarge, kStale, kRateLimited, kUnavailable };
const char* RefusalCodeName(RefusalCode c);

inline constexpr size_t kMinIdBytes = 8;
inline constexpr size_t kMaxIdBytes = 32;

// The client's fields kept for delivery: MessagePack key/value pairs, packed
// back to back in the client's order (without a map header).
struct MessageFields {
  std::string packed;
  uint32_t count = 0;
};

struct ClientMessage {
  std::string id;  // raw bytes
  uint64_t ts = 0;
  MessageFields fields;
};

struct DecodeOutcome {
  bool ok = false;
  RefusalCode code = RefusalCode::kMalformed;  // when !ok: kMalformed or kTooLarge
  std::string reason;                          // when !ok: for the client
  std::string id;                              // the id when it could be read, even on refusal
};

// Decodes and validates a client message. Never throws.
DecodeOutcome DecodeClientMessage(std::string_view payload, uint64_t max_body_bytes, ClientMessage* out);

// What the plugin adds to every delivered message.
struct Stamp {
  uint64_t seq = 0;
  std::string_view from;
  uint64_t sts = 0;
  std::string_view ch;
};

// The delivered map: the kept fields plus seq, from, sts, ch.
std::string EncodeDelivery(const MessageFields& fields, const Stamp& stamp);

// {code, reason, id}; id omitted when empty.
std::string EncodeError(RefusalCode code, std::string_view reason, std::string_view id);

}  // namespace chat
