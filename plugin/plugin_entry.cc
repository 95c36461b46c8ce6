// The three entry points Mosquitto 2.0 looks up in a plugin (version 5 API).
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker_port.h"
#include "chat/chat_service.h"
#include "event_callbacks.h"
#include "main_loop_waker.h"
#include "store_factory.h"

extern "C" {
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
}

#define CHAT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

struct PluginState {
  mosquitto_plugin_id_t* id = nullptr;
  chat_plugin::MosquittoBrokerPort broker;
  std::unique_ptr<chat::ChatService> service;
};

struct Registration {
  int event;
  MOSQ_FUNC_generic_callback callback;
  const char* event_data;  // MOSQ_EVT_CONTROL: the topic
};

constexpr Registration kCallbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, chat_plugin::OnBasicAuth, nullptr},
    {MOSQ_EVT_ACL_CHECK, chat_plugin::OnAclCheck, nullptr},
    {MOSQ_EVT_MESSAGE, chat_plugin::OnMessage, nullptr},
    {MOSQ_EVT_DISCONNECT, chat_plugin::OnDisconnect, nullptr},
    {MOSQ_EVT_RELOAD, chat_plugin::OnReload, nullptr},
    {MOSQ_EVT_TICK, chat_plugin::OnTick, nullptr},
    {MOSQ_EVT_CONTROL, chat_plugin::OnControl, chat::ChatService::kControlTopic.data()},
};

int Fail(const std::string& why) {
  chat_plugin::LogLine(chat::LogLevel::kError, why + "; refusing to start");
  return MOSQ_ERR_INVAL;
}

}  // namespace

CHAT_EXPORT int mosquitto_plugin_version(int supported_version_count, const int* supported_versions) {
  for (int i = 0; i < supported_version_count; ++i) {
    if (supported_versions[i] == 5) return 5;
  }
  return -1;
}

CHAT_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier, void** userdata,
                                      struct mosquitto_opt* options, int option_count) {
  std::vector<std::pair<std::string, std::string>> kv;
  for (int i = 0; i < option_count; ++i) {
    kv.emplace_back(options[i].key ? options[i].key : "", options[i].value ? options[i].value : "");
  }
  chat::Options opts;
  if (chat::Status s = chat::ParseOptions(kv, &opts); !s.ok()) return Fail(s.message());
  if (opts.node_id.empty()) {
    char host[256] = {0};
    opts.node_id = gethostname(host, sizeof(host) - 1) == 0 && host[0] ? host : "node";
  }

  auto state = std::make_unique<PluginState>();
  state->id = identifier;
  std::unique_ptr<chat::Store> store;
  std::function<void()> wake;
  if (opts.store == chat::StoreKind::kRedis) {
    if (!chat_plugin::InstallMainLoopWaker()) return Fail("cannot install the main loop's wake-up signal");
    wake = chat_plugin::WakeMainLoop;
  }
  if (chat::Status s = chat_plugin::OpenStore(opts, std::move(wake), &store); !s.ok()) return Fail(s.message());
  state->service = std::make_unique<chat::ChatService>(opts, chat::Env::Default(), &state->broker, std::move(store));
  if (chat::Status s = state->service->Start(); !s.ok()) return Fail(s.message());

  for (const auto& r : kCallbacks) {
    int rc = mosquitto_callback_register(identifier, r.event, r.callback, r.event_data, state->service.get());
    if (rc != MOSQ_ERR_SUCCESS) {
      return Fail(std::string("registering a callback failed: ") + mosquitto_strerror(rc));
    }
  }
  chat_plugin::LogLine(chat::LogLevel::kInfo, "mosquitto_chat ready on node '" + opts.node_id + "'");
  *userdata = state.release();
  return MOSQ_ERR_SUCCESS;
}

CHAT_EXPORT int mosquitto_plugin_cleanup(void* userdata, struct mosquitto_opt*, int) {
  auto* state = static_cast<PluginState*>(userdata);
  if (state == nullptr) return MOSQ_ERR_SUCCESS;
  for (const auto& r : kCallbacks) mosquitto_callback_unregister(state->id, r.event, r.callback, r.event_data);
  delete state;
  return MOSQ_ERR_SUCCESS;
}
