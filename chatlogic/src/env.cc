#include "chat/env.h"

#include <openssl/rand.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace chat {
namespace {

class SystemEnv final : public Env {
 public:
  int64_t NowMs() override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
  void RandomBytes(void* buf, size_t len) override {
    if (RAND_bytes(static_cast<unsigned char*>(buf), static_cast<int>(len)) != 1) {
      std::abort();  // No entropy: nothing safe can be done.
    }
  }
};

}  // namespace

Env* Env::Default() {
  static SystemEnv env;
  return &env;
}

void FakeEnv::RandomBytes(void* buf, size_t len) {
  auto* out = static_cast<unsigned char*>(buf);
  for (size_t i = 0; i < len; ++i) {
    if (i % sizeof(counter_) == 0) ++counter_;
    out[i] = static_cast<unsigned char>(counter_ >> (8 * (i % sizeof(counter_))));
  }
}

}  // namespace chat
