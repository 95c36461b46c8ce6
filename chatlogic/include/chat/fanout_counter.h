// FanoutCounter: how many subscribers on this node each recent chat message
// was queued to, for traceMessage. Fed by the READ check, which runs once
// per subscriber per message with the same payload bytes: a message is
// recognised by comparing with the last payload (no decoding per
// subscriber), and its seq is decoded once. Keeps the most recent
// `capacity` messages.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "chat/string_hash.h"

namespace chat {

class FanoutCounter {
 public:
  explicit FanoutCounter(size_t capacity = 65536) : capacity_(capacity) {}
  // A delivery of `payload` (a sequenced chat message) in `channel` passed
  // its READ check.
  void CountDelivery(std::string_view channel, std::string_view payload);
  // Subscribers the message (channel, seq) was queued to here (0: none, or
  // too long ago).
  uint64_t Count(std::string_view channel, uint64_t seq) const;

 private:
  static std::string Key(std::string_view channel, uint64_t seq);
  size_t capacity_;
  std::string last_payload_;
  std::string last_key_;  // empty: the last payload had no seq
  StringMap<uint64_t> counts_;
  std::deque<std::string> order_;  // oldest first
};

}  // namespace chat
