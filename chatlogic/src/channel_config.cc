#include "chat/channel_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "chat/ids.h"

namespace chat {

using nlohmann::json;

const char* ChannelTypeName(ChannelType t) {
  switch (t) {
    case ChannelType::kDirect: return "direct";
    case ChannelType::kGroup: return "group";
    case ChannelType::kOpen: return "open";
  }
  return "group";
}

namespace {

Status Invalid(const std::string& what) { return Status::InvalidArgument(what); }

bool ReadNonNegative(const json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = v.get<int64_t>();
    return true;
  }
  return false;
}

}  // namespace

Status ParseChannelDocument(std::string_view id, std::string_view text, const ChannelDocLimits& limits,
                            ChannelConfig* out) {
  if (!IsValidId(id)) return Invalid("channel id must be 1 to 64 characters from [A-Za-z0-9_.-]");
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Invalid("document is not valid JSON");
  if (!doc.is_object()) return Invalid("document must be a JSON object");

  ChannelConfig c;
  c.id = std::string(id);
  bool have_type = false;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "type") {
      if (!v.is_string()) return Invalid("type must be \"direct\", \"group\" or \"open\"");
      const auto& s = v.get_ref<const std::string&>();
      if (s == "direct") c.type = ChannelType::kDirect;
      else if (s == "group") c.type = ChannelType::kGroup;
      else if (s == "open") c.type = ChannelType::kOpen;
      else return Invalid("type must be \"direct\", \"group\" or \"open\"");
      have_type = true;
    } else if (key == "members") {
      if (!v.is_array()) return Invalid("members must be an array of user ids");
      if (v.size() > limits.max_members) {
        return Invalid("members has more than " + std::to_string(limits.max_members) + " entries");
      }
      for (const auto& m : v) {
        if (!m.is_string() || !IsValidId(m.get_ref<const std::string&>())) {
          return Invalid("members must contain user ids of 1 to 64 characters from [A-Za-z0-9_.-]");
        }
        c.members.push_back(m.get<std::string>());
      }
    } else if (key == "history") {
      if (!v.is_object()) return Invalid("history must be an object");
      for (auto h = v.begin(); h != v.end(); ++h) {
        int64_t n = 0;
        if (h.key() == "max") {
          if (!ReadNonNegative(h.value(), &n)) return Invalid("history.max must be a non-negative integer");
          c.history_max = static_cast<uint64_t>(n);
        } else if (h.key() == "max_age_s") {
          if (!ReadNonNegative(h.value(), &n)) return Invalid("history.max_age_s must be a non-negative integer");
          c.history_max_age_s = n;
        } else {
          return Invalid("unknown field history." + h.key());
        }
      }
    } else if (key == "receipts" || key == "typing") {
      if (!v.is_boolean()) return Invalid(key + " must be true or false");
      (key == "receipts" ? c.receipts : c.typing) = v.get<bool>();
    } else {
      return Invalid("unknown field " + key);
    }
  }
  if (!have_type) return Invalid("type is required");

  std::sort(c.members.begin(), c.members.end());
  c.members.erase(std::unique(c.members.begin(), c.members.end()), c.members.end());
  if (c.type == ChannelType::kDirect && c.members.size() != 2) {
    return Invalid("a direct channel has exactly two distinct members");
  }
  if (c.type == ChannelType::kGroup && c.members.empty()) {
    return Invalid("a group channel needs at least one member");
  }
  *out = std::move(c);
  return Status::Ok();
}

std::string ToChannelDocument(const ChannelConfig& c) {
  json doc = json::object();
  doc["type"] = ChannelTypeName(c.type);
  doc["members"] = c.members;
  json history = json::object();
  if (c.history_max) history["max"] = *c.history_max;
  if (c.history_max_age_s) history["max_age_s"] = *c.history_max_age_s;
  if (!history.empty()) doc["history"] = history;
  doc["receipts"] = c.receipts;
  doc["typing"] = c.typing;
  return doc.dump();
}

}  // namespace chat
