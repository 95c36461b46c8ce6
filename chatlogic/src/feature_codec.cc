#include "chat/feature_codec.h"

#include <msgpack.hpp>

namespace chat {
namespace {

bool ReferenceAll(msgpack::type::object_type, std::size_t, void*) { return true; }

// Unpacks a small request map; false when not a MessagePack map.
bool UnpackMap(std::string_view payload, msgpack::object_handle* handle, std::string* reason) {
  if (payload.empty() || payload.size() > 4096) {
    *reason = payload.empty() ? "empty payload" : "request larger than 4096 bytes";
    return false;
  }
  try {
    size_t offset = 0;
    const msgpack::unpack_limit limit(64, 64, 4096, 4096, 4096, 8);
    *handle = msgpack::unpack(payload.data(), payload.size(), offset, &ReferenceAll, nullptr, limit);
    if (offset != payload.size()) {
      *reason = "trailing bytes after the map";
      return false;
    }
  } catch (const std::exception&) {
    *reason = "payload is not valid MessagePack";
    return false;
  }
  if (handle->get().type != msgpack::type::MAP) {
    *reason = "payload must be a MessagePack map";
    return false;
  }
  return true;
}

const msgpack::object* Field(const msgpack::object& map, std::string_view name) {
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == name) {
      return &kv.val;
    }
  }
  return nullptr;
}

std::optional<std::string_view> Str(const msgpack::object* o) {
  if (o == nullptr || o->type != msgpack::type::STR) return std::nullopt;
  return std::string_view(o->via.str.ptr, o->via.str.size);
}

using Packer = msgpack::packer<msgpack::sbuffer>;

void Key(Packer& p, std::string_view k) { p.pack(k); }

std::string Take(const msgpack::sbuffer& b) { return std::string(b.data(), b.size()); }

}  // namespace

bool DecodeSyncRequest(std::string_view payload, SyncRequest* out, std::string* reason) {
  msgpack::object_handle h;
  if (!UnpackMap(payload, &h, reason)) return false;
  SyncRequest r;
  if (const msgpack::object* after = Field(h.get(), "after")) {
    if (after->type != msgpack::type::POSITIVE_INTEGER) {
      *reason = "after must be uint";
      return false;
    }
    r.after = after->via.u64;
  }
  if (const msgpack::object* limit = Field(h.get(), "limit")) {
    if (limit->type != msgpack::type::POSITIVE_INTEGER) {
      *reason = "limit must be uint";
      return false;
    }
    r.limit = limit->via.u64;
  }
  *out = r;
  return true;
}

std::string EncodeSyncReply(const SyncReply& r) {
  msgpack::sbuffer b;
  Packer p(b);
  p.pack_map(r.trimmed ? 8 : 7);
  Key(p, "after"); p.pack(r.after);
  Key(p, "last"); p.pack(r.last);
  Key(p, "head"); p.pack(r.head);
  Key(p, "more"); p.pack(r.more);
  Key(p, "read"); p.pack(r.read);
  Key(p, "delivered"); p.pack(r.delivered);
  Key(p, "epoch"); p.pack(std::string_view(r.epoch));
  if (r.trimmed) {
    Key(p, "trimmed");
    p.pack(*r.trimmed);
  }
  return Take(b);
}

const char* ReceiptKindName(ReceiptKind k) { return k == ReceiptKind::kRead ? "read" : "delivered"; }

bool DecodeReceipt(std::string_view payload, ReceiptRequest* out, std::string* reason) {
  msgpack::object_handle h;
  if (!UnpackMap(payload, &h, reason)) return false;
  auto kind = Str(Field(h.get(), "kind"));
  if (!kind || (*kind != "read" && *kind != "delivered")) {
    *reason = "kind must be \"read\" or \"delivered\"";
    return false;
  }
  const msgpack::object* upto = Field(h.get(), "upto");
  if (upto == nullptr || upto->type != msgpack::type::POSITIVE_INTEGER) {
    *reason = "upto must be uint";
    return false;
  }
  out->kind = *kind == "read" ? ReceiptKind::kRead : ReceiptKind::kDelivered;
  out->upto = upto->via.u64;
  return true;
}

std::string EncodeReceipt(ReceiptKind kind, uint64_t upto, std::string_view from, uint64_t sts, std::string_view ch) {
  msgpack::sbuffer b;
  Packer p(b);
  p.pack_map(5);
  Key(p, "kind"); p.pack(std::string_view(ReceiptKindName(kind)));
  Key(p, "upto"); p.pack(upto);
  Key(p, "from"); p.pack(from);
  Key(p, "sts"); p.pack(sts);
  Key(p, "ch"); p.pack(ch);
  return Take(b);
}

bool DecodeTyping(std::string_view payload, bool* started, std::string* reason) {
  msgpack::object_handle h;
  if (!UnpackMap(payload, &h, reason)) return false;
  auto state = Str(Field(h.get(), "state"));
  if (!state || (*state != "start" && *state != "stop")) {
    *reason = "state must be \"start\" or \"stop\"";
    return false;
  }
  *started = *state == "start";
  return true;
}

std::string EncodeTyping(bool started, std::string_view from, uint64_t sts, std::string_view ch) {
  msgpack::sbuffer b;
  Packer p(b);
  p.pack_map(4);
  Key(p, "state"); p.pack(std::string_view(started ? "start" : "stop"));
  Key(p, "from"); p.pack(from);
  Key(p, "sts"); p.pack(sts);
  Key(p, "ch"); p.pack(ch);
  return Take(b);
}

std::string EncodePresence(const Presence& pr) {
  msgpack::sbuffer b;
  Packer p(b);
  p.pack_map(4);
  Key(p, "user"); p.pack(std::string_view(pr.user));
  Key(p, "status"); p.pack(std::string_view(pr.online ? "online" : "offline"));
  Key(p, "devices"); p.pack(pr.devices);
  Key(p, "since"); p.pack(pr.since);
  return Take(b);
}

bool DecodePresence(std::string_view payload, Presence* out) {
  msgpack::object_handle h;
  std::string reason;
  if (!UnpackMap(payload, &h, &reason)) return false;
  auto user = Str(Field(h.get(), "user"));
  auto status = Str(Field(h.get(), "status"));
  const msgpack::object* devices = Field(h.get(), "devices");
  const msgpack::object* since = Field(h.get(), "since");
  if (!user || !status || devices == nullptr || devices->type != msgpack::type::POSITIVE_INTEGER ||
      since == nullptr || since->type != msgpack::type::POSITIVE_INTEGER) {
    return false;
  }
  out->user = std::string(*user);
  out->online = *status == "online";
  out->devices = devices->via.u64;
  out->since = since->via.u64;
  return true;
}

}  // namespace chat
