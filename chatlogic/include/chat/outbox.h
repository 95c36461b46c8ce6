// Outbox: accepted messages kept in acceptance order until they are
// committed elsewhere (in a cluster: to Redis, by an I/O thread). The local
// store implements it in the same files and transactions as its other state.
//
// Threading: Add runs on the broker thread. Read, Remove and Size may run on
// any one other thread; Read sees what the broker thread has committed (with
// fsync everysec: at the end of each broker loop iteration).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/status.h"
#include "chat/store.h"

namespace chat {

struct OutboxEntry {
  uint64_t position = 0;  // 1, 2, 3, ... in acceptance order
  std::string channel;
  StoredMessage message;  // seq is 0: the cluster assigns it
};

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Appends the request's message; *position is its place in the outbox.
  virtual Status OutboxAdd(const AppendRequest& request, uint64_t* position) = 0;
  // Up to `limit` entries with position > after, in order.
  virtual Status OutboxRead(uint64_t after, size_t limit, std::vector<OutboxEntry>* out) = 0;
  // Drops every entry with position <= upto.
  virtual Status OutboxRemove(uint64_t upto) = 0;
  virtual Status OutboxSize(uint64_t* entries) = 0;
};

}  // namespace chat
