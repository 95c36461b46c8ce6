// Minting connect tokens from a private JWKS: for the command-line tool, the
// benchmark and tests. The broker never mints.
//
// A private JWKS has the same keys as a public one, plus "d" (the private
// scalar, base64url) on EC keys. HS256 keys are the same in both.
#pragma once

#include <string>
#include <string_view>

#include "chat/status.h"

namespace chat {

// Signs `claims_json` (a JSON object, used as is) with the key `kid` of
// `private_jwks_json`, with header {"alg":..,"typ":"JWT","kid":kid}.
Status MintToken(std::string_view private_jwks_json, std::string_view kid,
                 std::string_view claims_json, std::string* token);

}  // namespace chat
