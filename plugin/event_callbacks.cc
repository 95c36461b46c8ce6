#include "event_callbacks.h"

#include <cstring>

#include "chat/chat_service.h"

extern "C" {
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
}

namespace chat_plugin {
namespace {

chat::ChatService* Service(void* userdata) { return static_cast<chat::ChatService*>(userdata); }
chat::ClientKey Key(const mosquitto* client) { return reinterpret_cast<chat::ClientKey>(client); }
std::string_view ClientId(const mosquitto* client) {
  const char* id = mosquitto_client_id(client);
  return id ? std::string_view(id) : std::string_view();
}

}  // namespace

int OnBasicAuth(int, void* event_data, void* userdata) {
  auto* ev = static_cast<mosquitto_evt_basic_auth*>(event_data);
  chat::AuthDecision d = Service(userdata)->OnBasicAuth(Key(ev->client), ClientId(ev->client), ev->username, ev->password);
  switch (d.verdict) {
    case chat::AuthVerdict::kAccept:
      return mosquitto_set_username(ev->client, d.username.c_str()) == MOSQ_ERR_SUCCESS ? MOSQ_ERR_SUCCESS
                                                                                        : MOSQ_ERR_AUTH;
    case chat::AuthVerdict::kDefer:
      return MOSQ_ERR_PLUGIN_DEFER;
    case chat::AuthVerdict::kRefuse:
      return MOSQ_ERR_AUTH;
  }
  return MOSQ_ERR_AUTH;
}

int OnAclCheck(int, void* event_data, void* userdata) {
  auto* ev = static_cast<mosquitto_evt_acl_check*>(event_data);
  chat::Access access;
  switch (ev->access) {
    case MOSQ_ACL_READ: access = chat::Access::kRead; break;
    case MOSQ_ACL_WRITE: access = chat::Access::kWrite; break;
    case MOSQ_ACL_SUBSCRIBE: access = chat::Access::kSubscribe; break;
    case MOSQ_ACL_UNSUBSCRIBE: access = chat::Access::kUnsubscribe; break;
    default: return MOSQ_ERR_PLUGIN_DEFER;
  }
  std::string_view payload(static_cast<const char*>(ev->payload), ev->payload ? ev->payloadlen : 0);
  switch (Service(userdata)->OnAclCheck(Key(ev->client), access, ev->topic, ev->payloadlen, payload)) {
    case chat::AclVerdict::kAllow: return MOSQ_ERR_SUCCESS;
    case chat::AclVerdict::kDeny: return MOSQ_ERR_ACL_DENIED;
    case chat::AclVerdict::kDefer: return MOSQ_ERR_PLUGIN_DEFER;
  }
  return MOSQ_ERR_ACL_DENIED;
}

int OnMessage(int, void* event_data, void* userdata) {
  auto* ev = static_cast<mosquitto_evt_message*>(event_data);
  std::string_view payload(static_cast<const char*>(ev->payload), ev->payload ? ev->payloadlen : 0);
  chat::PublishDecision d =
      Service(userdata)->OnPublish(Key(ev->client), ClientId(ev->client), ev->topic, payload, ev->qos, ev->retain);
  switch (d.verdict) {
    case chat::PublishVerdict::kPass:
      return MOSQ_ERR_SUCCESS;
    case chat::PublishVerdict::kDeliver: {
      // The broker frees the old payload when ours differs from it.
      void* replacement = nullptr;
      if (!d.payload.empty()) {
        replacement = mosquitto_malloc(d.payload.size());
        if (replacement == nullptr) return MOSQ_ERR_NOMEM;  // not acknowledged: the client resends
        std::memcpy(replacement, d.payload.data(), d.payload.size());
      }
      ev->payload = replacement;
      ev->payloadlen = static_cast<uint32_t>(d.payload.size());
      ev->retain = d.retain;
      return MOSQ_ERR_SUCCESS;
    }
    case chat::PublishVerdict::kSuppress:
      // Acknowledged as success; the empty payload is denied to every
      // subscriber by the READ check.
      ev->payload = nullptr;
      ev->payloadlen = 0;
      ev->retain = false;
      return MOSQ_ERR_SUCCESS;
    case chat::PublishVerdict::kRefuse:
      return MOSQ_ERR_ACL_DENIED;
    case chat::PublishVerdict::kDisconnect:
      return MOSQ_ERR_UNKNOWN;
  }
  return MOSQ_ERR_ACL_DENIED;
}

int OnDisconnect(int, void* event_data, void* userdata) {
  auto* ev = static_cast<mosquitto_evt_disconnect*>(event_data);
  Service(userdata)->OnDisconnect(Key(ev->client), mosquitto_client_clean_session(ev->client));
  return MOSQ_ERR_SUCCESS;
}

int OnReload(int, void*, void* userdata) {
  Service(userdata)->OnReload();
  return MOSQ_ERR_SUCCESS;
}

int OnControl(int, void* event_data, void* userdata) {
  auto* ev = static_cast<mosquitto_evt_control*>(event_data);
  Service(userdata)->OnControl(Key(ev->client), ClientId(ev->client),
                               std::string_view(static_cast<const char*>(ev->payload), ev->payloadlen));
  return MOSQ_ERR_SUCCESS;
}

int OnTick(int, void*, void* userdata) {
  Service(userdata)->OnTick();
  return MOSQ_ERR_SUCCESS;
}

}  // namespace chat_plugin
