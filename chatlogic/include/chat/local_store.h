// LocalStore: the durable embedded Store, on LMDB, for one node (and, in a
// cluster, the node's outbox). Files live in one directory.
//
// Durability (plugin_opt_local_fsync):
//  - kAlways: every state change is its own transaction, committed and
//    fsync'd before the call returns: an acknowledged message survives
//    kill -9 and power loss.
//  - kEverySec: changes go into one open write transaction, committed at
//    the first broker tick at least 20 ms after it began, without fsync; a
//    background thread syncs the file once a second. kill -9 can lose the
//    acknowledged changes of those last ~20 ms (the last idle tick's
//    worth, about 100 ms, when the broker is idle), a machine crash about a
//    second of them.
// A full disk fails the call (the message is not acknowledged); the next
// calls succeed again once space is free.
#pragma once

#include <memory>
#include <string>

#include "chat/options.h"
#include "chat/store.h"

namespace chat {

struct LocalStoreOptions {
  std::string dir;
  FsyncMode fsync = FsyncMode::kEverySec;
  uint64_t map_size_bytes = uint64_t{64} << 30;  // address space reserved; the file grows as needed
};

class LocalStore;

// Opens (creating if needed) the store in options.dir. A file that is not
// an LMDB environment of ours, or is unreadable, fails with Corruption or
// IOError: never silently starts empty over existing data.
Status OpenLocalStore(const LocalStoreOptions& options, const StoreSettings& settings, std::unique_ptr<Store>* out);

}  // namespace chat
