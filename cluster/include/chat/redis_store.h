// RedisStore: the cluster's Store. Redis holds the shared truth (sequences,
// history, dedup fingerprints, watermarks, token ids, presence, channel
// documents); the node's LocalStore holds its outbox and caches.
//
// The broker thread never waits on the network:
//  - Append writes the message to the local outbox (durable per
//    local_fsync) and returns kPending: the message may be acknowledged.
//  - An I/O thread commits the outbox to Redis in acceptance order, one
//    pipelined EVALSHA per message (append.lua: dedup, seq, history, feed).
//  - A feed thread listens to the cluster feed; every node, this one
//    included, delivers messages from it through a SequenceGate, so all
//    subscribers see one gapless order and a lost feed is filled from
//    history.
//  - Reads, watermarks, presence, token claims and channel documents go
//    through the I/O thread; their answers come back in PollCompletions,
//    on the broker thread, which the I/O threads wake with `wake`.
// Redis unreachable: the outbox keeps up to outbox_max messages, then
// Append fails (not acknowledged). The threads reconnect with backoff and
// drain the outbox in order. Each state change is logged once.
#pragma once

#include <memory>
#include <string>

#include "chat/local_store.h"
#include "chat/redis_address.h"
#include "chat/store.h"

namespace chat {

struct RedisStoreOptions {
  RedisAddress address;
  std::string node_id;
  std::string key_prefix = "mc:";
  uint64_t outbox_max = 100000;
  int64_t presence_timeout_ms = 30000;  // a silent node's devices are dropped after this
  int connect_timeout_ms = 2000;
  int command_timeout_ms = 5000;
  HistoryLimits default_limits;  // for outbox entries left by an earlier run
  LocalStoreOptions local;       // the node's outbox and caches
};

Status OpenRedisStore(const RedisStoreOptions& options, const StoreSettings& settings, std::unique_ptr<Store>* out);

}  // namespace chat
