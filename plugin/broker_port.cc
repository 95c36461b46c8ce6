#include "broker_port.h"

#include <cstring>

extern "C" {
#include <mosquitto.h>
#include <mosquitto_broker.h>
}

namespace chat_plugin {

void LogLine(chat::LogLevel level, const std::string& line) {
  int mosq_level = MOSQ_LOG_INFO;
  switch (level) {
    case chat::LogLevel::kDebug: mosq_level = MOSQ_LOG_DEBUG; break;
    case chat::LogLevel::kInfo: mosq_level = MOSQ_LOG_INFO; break;
    case chat::LogLevel::kNotice: mosq_level = MOSQ_LOG_NOTICE; break;
    case chat::LogLevel::kWarning: mosq_level = MOSQ_LOG_WARNING; break;
    case chat::LogLevel::kError: mosq_level = MOSQ_LOG_ERR; break;
  }
  mosquitto_log_printf(mosq_level, "chat: %s", line.c_str());
}

void MosquittoBrokerPort::Publish(chat::Outgoing m) {
  void* payload = nullptr;
  if (!m.payload.empty()) {
    payload = mosquitto_malloc(m.payload.size());  // the broker frees it
    if (payload == nullptr) {
      LogLine(chat::LogLevel::kError, "out of memory publishing to " + m.topic);
      return;
    }
    std::memcpy(payload, m.payload.data(), m.payload.size());
  }
  int rc = mosquitto_broker_publish(m.client_id.empty() ? nullptr : m.client_id.c_str(), m.topic.c_str(),
                                    static_cast<int>(m.payload.size()), payload, m.qos, m.retain, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    mosquitto_free(payload);
    LogLine(chat::LogLevel::kError, "publishing to " + m.topic + " failed: " + mosquitto_strerror(rc));
  }
}

void MosquittoBrokerPort::Kick(const std::string& client_id) {
  mosquitto_kick_client_by_clientid(client_id.c_str(), false);
}

void MosquittoBrokerPort::Log(chat::LogLevel level, const std::string& line) { LogLine(level, line); }

}  // namespace chat_plugin
