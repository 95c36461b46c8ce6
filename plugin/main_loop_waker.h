// MainLoopWaker: lets another thread cut short the broker's epoll_wait, so
// work handed to the broker thread runs at the next TICK instead of after
// up to ~100 ms of idle wait. Mosquitto 2.0 offers no fd to register; a
// signal sent to the main thread, whose handler does nothing and is
// installed without SA_RESTART, makes epoll_wait return EINTR and the loop
// go round (see ../shared/notes/mosquitto-2.0-plugin-api.md).
#pragma once

namespace chat_plugin {

// Call on the broker's main thread (plugin init). Safe to call again.
bool InstallMainLoopWaker();
// Any thread: wakes the main thread's loop.
void WakeMainLoop();

}  // namespace chat_plugin
