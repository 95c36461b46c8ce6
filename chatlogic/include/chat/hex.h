// Lower-case hexadecimal, for ids in logs and for random tokens.
#pragma once

#include <string>
#include <string_view>

#include "chat/env.h"

namespace chat {

std::string HexEncode(std::string_view bytes);
// Lower- or upper-case hex to bytes; false on an odd length or a non-hex digit.
bool HexDecode(std::string_view hex, std::string* out);
// `bytes` random bytes from env (Env::Default() when null), hex encoded.
std::string RandomHex(Env* env, size_t bytes);

}  // namespace chat
