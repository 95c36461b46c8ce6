#include "chat/store.h"

namespace chat {

StoredMessage MakeStoredMessage(const AppendRequest& request, uint64_t seq) {
  StoredMessage m;
  m.seq = seq;
  m.id = request.message->id;
  m.from = std::string(request.from);
  m.sts = static_cast<uint64_t>(request.now_ms);
  m.fields = request.message->fields;
  m.client = std::string(request.client);
  m.node = std::string(request.node);
  m.stored_ms = static_cast<uint64_t>(request.now_ms);
  return m;
}

}  // namespace chat
