// Private to chatlogic: a P-256 key from JWK members (raw big-endian x, y and,
// for a key pair, d), checked before it is returned.
#pragma once

#include <string>

#include "openssl_handles.h"

namespace chat {

// Public key when d is null (checked: on the curve, not infinity, right
// order), key pair otherwise (checked, pairwise too). nullptr on failure.
// x and y must be 32 bytes each.
ossl::PkeyPtr MakeP256Key(const std::string& x, const std::string& y, const std::string* d);

}  // namespace chat
