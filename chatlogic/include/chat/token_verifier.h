// Connect-token verification (spec section 1): a compact JWS whose header
// `kid` selects a key from a KeySet, signed HS256 or ES256, with claims
// sub, exp, iat, jti (required) and role (optional).
//
// Single use of `jti` is not checked here: it needs the store
// (see ChatService).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "chat/key_set.h"

namespace chat {

enum class TokenError {
  kNone = 0,
  kMalformed,         // not three base64url segments, or header/claims not JSON objects
  kUnsupportedAlg,    // alg missing, "none", or anything but HS256 / ES256
  kUnknownKey,        // kid missing or not in the key set
  kAlgMismatch,       // header alg does not match the selected key's type
  kBadSignature,      // signature does not verify
  kMissingClaim,      // sub, exp, iat or jti missing or of the wrong JSON type
  kExpired,           // now > exp + leeway
  kNotYetValid,       // iat > now + leeway, or nbf present and nbf > now + leeway
  kLifetimeTooLong,   // exp - iat > max lifetime, or exp < iat
  kBadSubject,        // sub breaks the id grammar
};

// Stable lower-case name, e.g. "expired", for logs and tests.
const char* TokenErrorName(TokenError e);

struct TokenPolicy {
  int64_t max_lifetime_s = 300;  // largest accepted exp - iat
  int64_t leeway_s = 5;          // clock leeway for exp, iat and nbf
};

struct TokenClaims {
  std::string sub;
  std::string jti;
  int64_t iat = 0;  // seconds since the epoch
  int64_t exp = 0;  // seconds since the epoch
  bool admin = false;  // role == "admin"
};

// True when `password` has the shape of a compact JWS: three non-empty
// base64url segments separated by two dots. Used to decide between token
// auth and auth_fallback; says nothing about validity.
bool LooksLikeJwt(std::string_view password);

// Verifies everything but single use. Checks run in this order: shape, header
// (alg, kid, key, alg match), signature, then claims, so nothing about the
// claims is trusted before the signature is. On kNone *claims is filled.
TokenError VerifyToken(std::string_view token, const KeySet& keys, const TokenPolicy& policy,
                       int64_t now_s, TokenClaims* claims);

}  // namespace chat
