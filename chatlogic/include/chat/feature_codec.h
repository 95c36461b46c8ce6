// MessagePack codecs for spec section 5: sync requests and replies,
// receipts, typing and presence. Decoders never throw; unknown keys in
// requests are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chat {

// ---- sync: client {after: uint, limit: uint}
struct SyncRequest {
  uint64_t after = 0;
  std::optional<uint64_t> limit;  // unset: the default page size
};
// False (with *reason) when the payload is not such a map.
bool DecodeSyncRequest(std::string_view payload, SyncRequest* out, std::string* reason);

struct SyncReply {
  uint64_t after = 0;
  uint64_t last = 0;   // highest seq sent; `after` when none was
  uint64_t head = 0;
  bool more = false;
  uint64_t read = 0;
  uint64_t delivered = 0;
  std::string epoch;
  std::optional<uint64_t> trimmed;  // lowest seq still stored, when retention dropped some after `after`
};
std::string EncodeSyncReply(const SyncReply& r);

// ---- receipts: client {kind: "read"|"delivered", upto: uint}
enum class ReceiptKind { kRead, kDelivered };
const char* ReceiptKindName(ReceiptKind k);
struct ReceiptRequest {
  ReceiptKind kind = ReceiptKind::kRead;
  uint64_t upto = 0;
};
bool DecodeReceipt(std::string_view payload, ReceiptRequest* out, std::string* reason);
// Broadcast {kind, upto, from, sts, ch}.
std::string EncodeReceipt(ReceiptKind kind, uint64_t upto, std::string_view from, uint64_t sts, std::string_view ch);

// ---- typing: client {state: "start"|"stop"}
bool DecodeTyping(std::string_view payload, bool* started, std::string* reason);
// Broadcast {state, from, sts, ch}.
std::string EncodeTyping(bool started, std::string_view from, uint64_t sts, std::string_view ch);

// ---- presence: retained {user, status, devices, since}
struct Presence {
  std::string user;
  bool online = false;
  uint64_t devices = 0;
  uint64_t since = 0;  // ms since the epoch of the last online/offline change
};
std::string EncodePresence(const Presence& p);
bool DecodePresence(std::string_view payload, Presence* out);

}  // namespace chat
