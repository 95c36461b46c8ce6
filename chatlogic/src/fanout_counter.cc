#include "chat/fanout_counter.h"

#include <msgpack.hpp>

namespace chat {
namespace {

// The "seq" of a delivered map; 0 when absent or unreadable.
uint64_t SeqOf(std::string_view payload) {
  try {
    msgpack::object_handle h = msgpack::unpack(payload.data(), payload.size());
    const msgpack::object& o = h.get();
    if (o.type != msgpack::type::MAP) return 0;
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
      const msgpack::object_kv& kv = o.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == "seq" &&
          kv.val.type == msgpack::type::POSITIVE_INTEGER) {
        return kv.val.via.u64;
      }
    }
  } catch (const std::exception&) {
  }
  return 0;
}

}  // namespace

std::string FanoutCounter::Key(std::string_view channel, uint64_t seq) {
  std::string k(channel);
  k.push_back('\0');
  k += std::to_string(seq);
  return k;
}

void FanoutCounter::CountDelivery(std::string_view channel, std::string_view payload) {
  if (payload != last_payload_) {
    last_payload_.assign(payload);
    const uint64_t seq = SeqOf(payload);
    last_key_ = seq == 0 ? std::string() : Key(channel, seq);
  }
  if (last_key_.empty()) return;
  auto it = counts_.find(last_key_);
  if (it == counts_.end()) {
    if (order_.size() >= capacity_) {
      counts_.erase(order_.front());
      order_.pop_front();
    }
    it = counts_.emplace(last_key_, 0).first;
    order_.push_back(last_key_);
  }
  ++it->second;
}

uint64_t FanoutCounter::Count(std::string_view channel, uint64_t seq) const {
  auto it = counts_.find(Key(channel, seq));
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace chat
