// Builds the Store that plugin_opt_store names.
#pragma once

#include <functional>
#include <memory>

#include "chat/options.h"
#include "chat/store.h"

namespace chat_plugin {

// `wake` is called from the store's own threads (redis) to wake the broker
// thread's loop; see main_loop_waker.h.
chat::Status OpenStore(const chat::Options& options, std::function<void()> wake, std::unique_ptr<chat::Store>* out);

}  // namespace chat_plugin
