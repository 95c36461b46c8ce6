#include "chat/token_verifier.h"

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/base64url.h"
#include "chat/ids.h"

namespace chat {
namespace {

using nlohmann::json;

constexpr size_t kMaxTokenBytes = 8 * 1024;
constexpr size_t kMaxJtiBytes = 256;

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

json ParseObject(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return json(json::value_t::discarded);
  return j;
}

// An integral JSON number that fits int64_t. 1.7e9 or 1700000000.0 is not one.
bool GetInt64(const json& value, int64_t* out) {
  if (value.is_number_unsigned()) {
    auto u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (value.is_number_integer()) {
    *out = value.get<int64_t>();
    return true;
  }
  return false;
}

// Required or optional integer claim. *present says whether it was there.
bool ReadTime(const json& body, const char* name, bool* present, int64_t* out) {
  auto it = body.find(name);
  *present = it != body.end();
  return !*present || GetInt64(*it, out);
}

TokenError Verify(std::string_view token, const KeySet& keys, const TokenPolicy& policy,
                  int64_t now_s, TokenClaims* claims) {
  // 1. Shape.
  if (token.size() > kMaxTokenBytes) return TokenError::kMalformed;
  size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return TokenError::kMalformed;
  size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return TokenError::kMalformed;
  if (token.find('.', dot2 + 1) != std::string_view::npos) return TokenError::kMalformed;
  std::string_view header_b64 = token.substr(0, dot1);
  std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view signature_b64 = token.substr(dot2 + 1);
  // An empty signature is a shape the header check refuses more precisely
  // (alg "none"), or the signature check does.
  if (header_b64.empty() || payload_b64.empty()) return TokenError::kMalformed;
  std::string header_bytes, payload_bytes, signature;
  if (!Base64UrlDecode(header_b64, &header_bytes) ||
      !Base64UrlDecode(payload_b64, &payload_bytes) ||
      !Base64UrlDecode(signature_b64, &signature)) {
    return TokenError::kMalformed;
  }

  // 2. Header: alg, kid, key, alg match.
  json header = ParseObject(header_bytes);
  if (header.is_discarded()) return TokenError::kMalformed;
  // No extension is understood, so any critical one must be refused (RFC 7515 4.1.11).
  if (header.contains("crit")) return TokenError::kMalformed;
  auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string()) return TokenError::kUnsupportedAlg;
  JwtAlg alg;
  if (*alg_it == "HS256") {
    alg = JwtAlg::kHS256;
  } else if (*alg_it == "ES256") {
    alg = JwtAlg::kES256;
  } else {
    return TokenError::kUnsupportedAlg;
  }
  auto kid_it = header.find("kid");
  if (kid_it == header.end() || !kid_it->is_string()) return TokenError::kUnknownKey;
  const VerificationKey* key = keys.Find(kid_it->get_ref<const std::string&>());
  if (key == nullptr) return TokenError::kUnknownKey;
  if (key->alg() != alg) return TokenError::kAlgMismatch;

  // 3. Signature over the first two segments exactly as received.
  if (!key->Verify(token.substr(0, dot2), signature)) return TokenError::kBadSignature;

  // 4. Claims: only now is the payload looked at.
  json body = ParseObject(payload_bytes);
  if (body.is_discarded()) return TokenError::kMalformed;

  auto sub_it = body.find("sub");
  if (sub_it == body.end() || !sub_it->is_string()) return TokenError::kMissingClaim;
  auto jti_it = body.find("jti");
  if (jti_it == body.end() || !jti_it->is_string()) return TokenError::kMissingClaim;
  const std::string& jti = jti_it->get_ref<const std::string&>();
  if (jti.empty() || jti.size() > kMaxJtiBytes) return TokenError::kMissingClaim;
  int64_t exp = 0, iat = 0, nbf = 0;
  bool has_exp = false, has_iat = false, has_nbf = false;
  if (!ReadTime(body, "exp", &has_exp, &exp) || !has_exp) return TokenError::kMissingClaim;
  if (!ReadTime(body, "iat", &has_iat, &iat) || !has_iat) return TokenError::kMissingClaim;
  // nbf is optional, but one that cannot be read must not be ignored.
  if (!ReadTime(body, "nbf", &has_nbf, &nbf)) return TokenError::kMissingClaim;

  const std::string& sub = sub_it->get_ref<const std::string&>();
  if (!IsValidId(sub)) return TokenError::kBadSubject;

  // 128-bit arithmetic: claims are attacker-chosen (if signed) int64 values.
  using Wide = __int128;
  if (exp < iat || Wide{exp} - Wide{iat} > Wide{policy.max_lifetime_s}) {
    return TokenError::kLifetimeTooLong;
  }
  const Wide now = now_s;
  const Wide leeway = policy.leeway_s;
  if (now > Wide{exp} + leeway) return TokenError::kExpired;
  if (Wide{iat} > now + leeway) return TokenError::kNotYetValid;
  if (has_nbf && Wide{nbf} > now + leeway) return TokenError::kNotYetValid;

  bool admin = false;
  if (auto role = body.find("role"); role != body.end() && role->is_string()) {
    admin = *role == "admin";
  }

  claims->sub = sub;
  claims->jti = jti;
  claims->iat = iat;
  claims->exp = exp;
  claims->admin = admin;
  return TokenError::kNone;
}

}  // namespace

const char* TokenErrorName(TokenError e) {
  switch (e) {
    case TokenError::kNone:
      return "none";
    case TokenError::kMalformed:
      return "malformed";
    case TokenError::kUnsupportedAlg:
      return "unsupported_alg";
    case TokenError::kUnknownKey:
      return "unknown_key";
    case TokenError::kAlgMismatch:
      return "alg_mismatch";
    case TokenError::kBadSignature:
      return "bad_signature";
    case TokenError::kMissingClaim:
      return "missing_claim";
    case TokenError::kExpired:
      return "expired";
    case TokenError::kNotYetValid:
      return "not_yet_valid";
    case TokenError::kLifetimeTooLong:
      return "lifetime_too_long";
    case TokenError::kBadSubject:
      return "bad_subject";
  }
  return "unknown";
}

bool LooksLikeJwt(std::string_view password) {
  int dots = 0;
  size_t segment = 0;
  for (char c : password) {
    if (c == '.') {
      if (segment == 0 || ++dots > 2) return false;
      segment = 0;
    } else if (IsBase64UrlChar(c)) {
      ++segment;
    } else {
      return false;
    }
  }
  return dots == 2 && segment > 0;
}

TokenError VerifyToken(std::string_view token, const KeySet& keys, const TokenPolicy& policy,
                       int64_t now_s, TokenClaims* claims) {
  try {
    return Verify(token, keys, policy, now_s, claims);
  } catch (...) {
    // nlohmann or allocation failure: never let it reach the broker.
    return TokenError::kMalformed;
  }
}

}  // namespace chat
