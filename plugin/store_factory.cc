#include "store_factory.h"

#include "chat/local_store.h"
#include "chat/memory_store.h"
#include "chat/redis_address.h"
#include "chat/redis_store.h"

namespace chat_plugin {

chat::Status OpenStore(const chat::Options& options, std::function<void()> wake, std::unique_ptr<chat::Store>* out) {
  chat::StoreSettings settings;
  settings.dedup_window_ms = options.dedup_window_s * 1000;
  settings.wake = std::move(wake);
  chat::LocalStoreOptions local;
  local.dir = options.local_dir + "/chat.lmdb";
  local.fsync = options.local_fsync;
  switch (options.store) {
    case chat::StoreKind::kMemory:
      return chat::MemoryStore::Open(settings, options.local_dir + "/channels.json", out);
    case chat::StoreKind::kLocal:
      return chat::OpenLocalStore(local, settings, out);
    case chat::StoreKind::kRedis: {
      chat::RedisStoreOptions redis;
      if (chat::Status s = chat::ParseRedisUrl(options.redis_url, &redis.address); !s.ok()) {
        return chat::Status::InvalidArgument("plugin_opt_redis_url: " + s.message());
      }
      redis.node_id = options.node_id;
      redis.outbox_max = options.outbox_max;
      redis.presence_timeout_ms = options.presence_timeout_s * 1000;
      redis.default_limits.max_count = options.history_max;
      redis.default_limits.max_age_ms = options.history_max_age_s * 1000;
      redis.local = local;
      return chat::OpenRedisStore(redis, settings, out);
    }
  }
  return chat::Status::InvalidArgument("plugin_opt_store: unknown store");
}

}  // namespace chat_plugin
