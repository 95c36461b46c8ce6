// ChannelConfig: one channel's administered configuration (spec section 6),
// parsed from and written back to the retained JSON document
//   {"type":"direct"|"group"|"open","members":[..],
//    "history":{"max":N,"max_age_s":N},"receipts":bool,"typing":bool}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/status.h"

namespace chat {

enum class ChannelType { kDirect, kGroup, kOpen };

const char* ChannelTypeName(ChannelType t);

struct ChannelConfig {
  std::string id;
  ChannelType type = ChannelType::kGroup;
  std::vector<std::string> members;       // sorted, unique
  std::optional<uint64_t> history_max;    // unset: the plugin_opt default
  std::optional<int64_t> history_max_age_s;
  bool receipts = true;
  bool typing = true;

  bool operator==(const ChannelConfig&) const = default;
};

// Limits a document must respect beyond its own grammar.
struct ChannelDocLimits {
  size_t max_members = 100000;
};

// Validates a document for channel `id`. Rules: a JSON object; "type"
// required; "members" an array of valid user ids (duplicates removed);
// direct: exactly two distinct members; group: at least one member;
// open: members optional; "history" an object with optional non-negative
// integers "max" and "max_age_s"; "receipts"/"typing" booleans (default
// true); any other key is refused (a typo must not pass silently).
// The message of a refusal names the offending field.
Status ParseChannelDocument(std::string_view id, std::string_view json, const ChannelDocLimits& limits,
                            ChannelConfig* out);

// The normalised document: members sorted, defaults explicit where set.
// ParseChannelDocument(ToChannelDocument(c)) == c.
std::string ToChannelDocument(const ChannelConfig& c);

}  // namespace chat
