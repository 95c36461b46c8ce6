#include "chat/stored_message_codec.h"

#include <msgpack.hpp>

namespace chat {

std::string EncodeStored(const StoredMessage& m) {
  msgpack::sbuffer b(m.fields.packed.size() + m.id.size() + m.from.size() + 32);
  msgpack::packer<msgpack::sbuffer> p(b);
  p.pack_array(8);
  p.pack_bin(static_cast<uint32_t>(m.id.size()));
  p.pack_bin_body(m.id.data(), static_cast<uint32_t>(m.id.size()));
  p.pack(std::string_view(m.from));
  p.pack(m.sts);
  p.pack(m.fields.count);
  p.pack_bin(static_cast<uint32_t>(m.fields.packed.size()));
  p.pack_bin_body(m.fields.packed.data(), static_cast<uint32_t>(m.fields.packed.size()));
  p.pack(std::string_view(m.client));
  p.pack(std::string_view(m.node));
  p.pack(m.stored_ms);
  return std::string(b.data(), b.size());
}

bool DecodeStored(std::string_view v, uint64_t seq, StoredMessage* m) {
  try {
    msgpack::object_handle h = msgpack::unpack(v.data(), v.size());
    const msgpack::object& o = h.get();
    // 5 elements: written before tracing fields were kept; 8: with them.
    if (o.type != msgpack::type::ARRAY || (o.via.array.size != 5 && o.via.array.size != 8)) return false;
    const msgpack::object* a = o.via.array.ptr;
    if (a[0].type != msgpack::type::BIN || a[1].type != msgpack::type::STR ||
        a[2].type != msgpack::type::POSITIVE_INTEGER || a[3].type != msgpack::type::POSITIVE_INTEGER ||
        a[4].type != msgpack::type::BIN) {
      return false;
    }
    m->seq = seq;
    m->id.assign(a[0].via.bin.ptr, a[0].via.bin.size);
    m->from.assign(a[1].via.str.ptr, a[1].via.str.size);
    m->sts = a[2].via.u64;
    m->fields.count = static_cast<uint32_t>(a[3].via.u64);
    m->fields.packed.assign(a[4].via.bin.ptr, a[4].via.bin.size);
    m->client.clear();
    m->node.clear();
    m->stored_ms = 0;
    if (o.via.array.size == 8) {
      if (a[5].type != msgpack::type::STR || a[6].type != msgpack::type::STR ||
          a[7].type != msgpack::type::POSITIVE_INTEGER) {
        return false;
      }
      m->client.assign(a[5].via.str.ptr, a[5].via.str.size);
      m->node.assign(a[6].via.str.ptr, a[6].via.str.size);
      m->stored_ms = a[7].via.u64;
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace chat
