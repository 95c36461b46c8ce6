// KeySet: the verification keys of a JWKS document (RFC 7517), by `kid`.
//
// Supported keys: {"kty":"oct","k":<base64url secret>} for HS256 and
// {"kty":"EC","crv":"P-256","x":..,"y":..} for ES256. Every key needs a
// unique non-empty "kid". An optional "alg" member must agree with the key
// type; a key with "use" other than "sig" is skipped. Parsing is all or
// nothing: one invalid key rejects the document, so a bad rotation never
// silently drops live keys.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chat/status.h"

namespace chat {

enum class JwtAlg { kHS256, kES256 };

// One verification key. Holds OpenSSL material; not copyable.
class VerificationKey {
 public:
  virtual ~VerificationKey() = default;
  virtual JwtAlg alg() const = 0;
  // Verifies `signature` (raw JWS bytes: 32-byte HMAC, or 64-byte r||s for
  // ES256) over `signing_input`. Constant-time where it matters.
  virtual bool Verify(std::string_view signing_input, std::string_view signature) const = 0;
};

class KeySet {
 public:
  // Parses a JWKS JSON document. On error *out is untouched.
  static Status Parse(std::string_view jwks_json, std::shared_ptr<const KeySet>* out);

  // nullptr when no key has that kid.
  const VerificationKey* Find(std::string_view kid) const;
  size_t size() const { return keys_.size(); }

 private:
  std::unordered_map<std::string, std::unique_ptr<VerificationKey>> keys_;
};

}  // namespace chat
