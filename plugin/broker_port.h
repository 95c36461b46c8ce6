// MosquittoBrokerPort: chat::BrokerPort on Mosquitto's plugin API.
// Broker thread only (mosquitto_broker_publish and logging are not thread-safe).
#pragma once

#include "chat/chat_service.h"

namespace chat_plugin {

class MosquittoBrokerPort final : public chat::BrokerPort {
 public:
  void Publish(chat::Outgoing message) override;
  void Log(chat::LogLevel level, const std::string& line) override;
  void Kick(const std::string& client_id) override;
};

// Logs through the broker with the plugin's prefix.
void LogLine(chat::LogLevel level, const std::string& line);

}  // namespace chat_plugin
