// Lower-case hexadecimal, for ids in logs and for random tokens.
#pragma once

#include <string>
#include <string_view>

#include "chat/env.h"

namespace chat {

std::string HexEncode(std::string_view bytes);
// `bytes` random bytes from env (Env::Default() when null), hex encoded.
std::string RandomHex(Env* env, size_t bytes);

}  // namespace chat
