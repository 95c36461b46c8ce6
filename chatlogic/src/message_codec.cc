#include "chat/message_codec.h"

#include <msgpack.hpp>

namespace chat {

const char* RefusalCodeName(RefusalCode c) {
  switch (c) {
    case RefusalCode::kNotMember: return "not_member";
    case RefusalCode::kMalformed: return "malformed";
    case RefusalCode::kTooLarge: return "too_large";
    case RefusalCode::kStale: return "stale";
    case RefusalCode::kRateLimited: return "rate_limited";
    case RefusalCode::kUnavailable: return "unavailable";
  }
  return "malformed";
}

namespace {

// Strings and binaries reference the input buffer: decoding copies nothing.
bool ReferenceAll(msgpack::type::object_type, std::size_t, void*) { return true; }

bool KeyIs(const msgpack::object& k, std::string_view name) {
  return k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == name;
}

bool IsPluginKey(const msgpack::object& k) {
  return KeyIs(k, "seq") || KeyIs(k, "from") || KeyIs(k, "sts") || KeyIs(k, "ch");
}

DecodeOutcome Refuse(RefusalCode code, std::string reason, std::string id = {}) {
  DecodeOutcome o;
  o.code = code;
  o.reason = std::move(reason);
  o.id = std::move(id);
  return o;
}

// Bytes of a map header by its first byte: fixmap, map 16, map 32.
size_t MapHeaderSize(unsigned char first) {
  if (first == 0xde) return 3;
  if (first == 0xdf) return 5;
  return 1;
}

// The keys with a meaning, each allowed once.
enum Known : unsigned { kId = 1, kTs = 2, kBody = 4, kType = 8, kMeta = 16 };

}  // namespace

DecodeOutcome DecodeClientMessage(std::string_view payload, uint64_t max_body_bytes, ClientMessage* out) {
  if (payload.empty()) return Refuse(RefusalCode::kMalformed, "empty payload");
  msgpack::object_handle handle;
  try {
    size_t offset = 0;
    // Bounds against hostile input: element counts, sizes and nesting depth.
    const msgpack::unpack_limit limit(/*array=*/65536, /*map=*/65536, /*str=*/payload.size(),
                                      /*bin=*/payload.size(), /*ext=*/payload.size(), /*depth=*/32);
    handle = msgpack::unpack(payload.data(), payload.size(), offset, &ReferenceAll, nullptr, limit);
    if (offset != payload.size()) return Refuse(RefusalCode::kMalformed, "trailing bytes after the map");
  } catch (const std::exception&) {
    return Refuse(RefusalCode::kMalformed, "payload is not valid MessagePack");
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::MAP) return Refuse(RefusalCode::kMalformed, "payload must be a MessagePack map");

  // First pass: the id, so that every later refusal can carry it.
  std::string id;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const auto& kv = root.via.map.ptr[i];
    if (KeyIs(kv.key, "id") && kv.val.type == msgpack::type::BIN) {
      id.assign(kv.val.via.bin.ptr, kv.val.via.bin.size);
      break;
    }
  }

  unsigned seen = 0;
  ClientMessage msg;
  bool has_plugin_key = false;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const auto& kv = root.via.map.ptr[i];
    const msgpack::object& v = kv.val;
    unsigned bit = 0;
    if (KeyIs(kv.key, "id")) {
      bit = kId;
      if (v.type != msgpack::type::BIN) return Refuse(RefusalCode::kMalformed, "id must be bin", id);
      if (v.via.bin.size < kMinIdBytes || v.via.bin.size > kMaxIdBytes) {
        return Refuse(RefusalCode::kMalformed, "id must be 8 to 32 bytes", id);
      }
    } else if (KeyIs(kv.key, "ts")) {
      bit = kTs;
      if (v.type != msgpack::type::POSITIVE_INTEGER) return Refuse(RefusalCode::kMalformed, "ts must be uint", id);
      msg.ts = v.via.u64;
    } else if (KeyIs(kv.key, "body")) {
      bit = kBody;
      size_t size = 0;
      if (v.type == msgpack::type::STR) size = v.via.str.size;
      else if (v.type == msgpack::type::BIN) size = v.via.bin.size;
      else return Refuse(RefusalCode::kMalformed, "body must be str or bin", id);
      if (size > max_body_bytes) {
        return Refuse(RefusalCode::kTooLarge, "body exceeds " + std::to_string(max_body_bytes) + " bytes", id);
      }
    } else if (KeyIs(kv.key, "type")) {
      bit = kType;
      if (v.type != msgpack::type::STR) return Refuse(RefusalCode::kMalformed, "type must be str", id);
    } else if (KeyIs(kv.key, "meta")) {
      bit = kMeta;
      if (v.type != msgpack::type::MAP) return Refuse(RefusalCode::kMalformed, "meta must be a map", id);
    } else if (IsPluginKey(kv.key)) {
      has_plugin_key = true;  // set by the plugin: the client's value is dropped
      continue;
    }
    if (bit != 0) {
      if (seen & bit) return Refuse(RefusalCode::kMalformed, "duplicate key", id);
      seen |= bit;
    }
    ++msg.fields.count;
  }
  if (!(seen & kId)) return Refuse(RefusalCode::kMalformed, "id is required");
  if (!(seen & kTs)) return Refuse(RefusalCode::kMalformed, "ts is required", id);
  if (!(seen & kBody)) return Refuse(RefusalCode::kMalformed, "body is required", id);

  msg.id = std::move(id);
  if (!has_plugin_key) {
    // Every pair is kept: the client's own bytes after the map header are
    // the kept fields, byte for byte.
    msg.fields.packed.assign(payload.substr(MapHeaderSize(static_cast<unsigned char>(payload[0]))));
  } else {
    msgpack::sbuffer buffer(payload.size());
    msgpack::packer<msgpack::sbuffer> packer(buffer);
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
      const auto& kv = root.via.map.ptr[i];
      if (IsPluginKey(kv.key)) continue;
      packer.pack(kv.key);
      packer.pack(kv.val);
    }
    msg.fields.packed.assign(buffer.data(), buffer.size());
  }
  *out = std::move(msg);
  DecodeOutcome ok;
  ok.ok = true;
  ok.id = out->id;
  return ok;
}

std::string EncodeDelivery(const MessageFields& fields, const Stamp& stamp) {
  msgpack::sbuffer buffer(fields.packed.size() + stamp.from.size() + stamp.ch.size() + 48);
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(fields.count + 4);
  buffer.write(fields.packed.data(), fields.packed.size());
  packer.pack(std::string_view("seq"));
  packer.pack(stamp.seq);
  packer.pack(std::string_view("from"));
  packer.pack(stamp.from);
  packer.pack(std::string_view("sts"));
  packer.pack(stamp.sts);
  packer.pack(std::string_view("ch"));
  packer.pack(stamp.ch);
  return std::string(buffer.data(), buffer.size());
}

std::string EncodeError(RefusalCode code, std::string_view reason, std::string_view id) {
  msgpack::sbuffer buffer(64 + reason.size() + id.size());
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_map(id.empty() ? 2 : 3);
  packer.pack(std::string_view("code"));
  packer.pack(std::string_view(RefusalCodeName(code)));
  packer.pack(std::string_view("reason"));
  packer.pack(reason);
  if (!id.empty()) {
    packer.pack(std::string_view("id"));
    packer.pack_bin(static_cast<uint32_t>(id.size()));
    packer.pack_bin_body(id.data(), static_cast<uint32_t>(id.size()));
  }
  return std::string(buffer.data(), buffer.size());
}

}  // namespace chat
