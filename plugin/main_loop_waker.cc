#include "main_loop_waker.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>

namespace chat_plugin {
namespace {

std::atomic<bool> installed{false};
pthread_t main_thread;

int WakeSignal() { return SIGRTMIN + 5; }

void OnWakeSignal(int) {}

}  // namespace

bool InstallMainLoopWaker() {
  if (installed.load()) return true;
  struct sigaction sa = {};
  sa.sa_handler = OnWakeSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: epoll_wait must return
  if (sigaction(WakeSignal(), &sa, nullptr) != 0) return false;
  main_thread = pthread_self();
  installed.store(true);
  return true;
}

void WakeMainLoop() {
  if (installed.load()) pthread_kill(main_thread, WakeSignal());
}

}  // namespace chat_plugin
