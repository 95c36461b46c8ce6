// Builds the Store that plugin_opt_store names.
#pragma once

#include <memory>

#include "chat/options.h"
#include "chat/store.h"

namespace chat_plugin {

chat::Status OpenStore(const chat::Options& options, std::unique_ptr<chat::Store>* out);

}  // namespace chat_plugin
