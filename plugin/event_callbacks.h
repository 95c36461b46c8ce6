// Mosquitto event callbacks: each turns one event into a ChatService call
// and the answer into the broker's return code. No decisions are made here.
#pragma once

namespace chat_plugin {

int OnBasicAuth(int event, void* event_data, void* userdata);
int OnAclCheck(int event, void* event_data, void* userdata);
int OnMessage(int event, void* event_data, void* userdata);
int OnDisconnect(int event, void* event_data, void* userdata);
int OnReload(int event, void* event_data, void* userdata);
int OnTick(int event, void* event_data, void* userdata);
// $CONTROL/chat/v1 (registered for that topic only).
int OnControl(int event, void* event_data, void* userdata);

}  // namespace chat_plugin
