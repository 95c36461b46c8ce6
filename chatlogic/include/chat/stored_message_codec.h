// The stored form of a history entry (everything but its seq, which the
// store keeps in its key): a MessagePack array [id, from, sts, field count,
// packed fields, client, node, stored_ms]. Entries of 5 elements (written
// before the tracing fields) still decode. Shared by the local store, its
// outbox and the Redis store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "chat/store.h"

namespace chat {

std::string EncodeStored(const StoredMessage& m);
// False when `v` is not such an array; never throws. Sets m->seq = seq.
bool DecodeStored(std::string_view v, uint64_t seq, StoredMessage* m);

}  // namespace chat
