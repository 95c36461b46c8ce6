#include "store_factory.h"

#include "chat/local_store.h"
#include "chat/memory_store.h"

namespace chat_plugin {

chat::Status OpenStore(const chat::Options& options, std::unique_ptr<chat::Store>* out) {
  chat::StoreSettings settings;
  settings.dedup_window_ms = options.dedup_window_s * 1000;
  chat::LocalStoreOptions local;
  local.dir = options.local_dir + "/chat.lmdb";
  local.fsync = options.local_fsync;
  switch (options.store) {
    case chat::StoreKind::kMemory:
      return chat::MemoryStore::Open(settings, options.local_dir + "/channels.json", out);
    case chat::StoreKind::kLocal:
      return chat::OpenLocalStore(local, settings, out);
    case chat::StoreKind::kRedis:
      return chat::Status::InvalidArgument("plugin_opt_store redis is not available in this build yet; use memory");
  }
  return chat::Status::InvalidArgument("plugin_opt_store: unknown store");
}

}  // namespace chat_plugin
