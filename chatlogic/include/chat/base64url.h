// Base64url without padding (RFC 4648 section 5), as JWS uses it.
#pragma once

#include <string>
#include <string_view>

namespace chat {

std::string Base64UrlEncode(std::string_view bytes);
// Rejects padding, whitespace and any character outside the alphabet, and a
// length that no encoding produces (len % 4 == 1).
bool Base64UrlDecode(std::string_view text, std::string* bytes);

}  // namespace chat
