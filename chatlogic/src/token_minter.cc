#include "chat/token_minter.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/base64url.h"
#include "openssl_handles.h"
#include "p256_key.h"

namespace chat {
namespace {

using nlohmann::json;

constexpr size_t kMinHmacSecretBytes = 16;  // same floor as KeySet
constexpr size_t kP256Bytes = 32;

// A std::string that wipes itself: for secrets.
struct SecretString {
  std::string value;
  ~SecretString() {
    if (!value.empty()) OPENSSL_cleanse(value.data(), value.size());
  }
};

Status DecodeMember(const json& jwk, const char* name, std::string* out) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) {
    return Status::InvalidArgument(std::string("key has no string member \"") + name + "\"");
  }
  if (!Base64UrlDecode(it->get_ref<const std::string&>(), out)) {
    return Status::InvalidArgument(std::string("key member \"") + name + "\" is not base64url");
  }
  return Status::Ok();
}

// A P-256 key pair from x, y, d, checked for consistency so that a broken
// private JWKS fails here instead of producing tokens nobody accepts.

bool SignEs256(EVP_PKEY* pkey, std::string_view input, std::string* raw_sig) {
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) != 1)
    return false;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  size_t der_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &der_len, in, input.size()) != 1) return false;
  std::string der(der_len, '\0');
  auto* der_buf = reinterpret_cast<unsigned char*>(der.data());
  if (EVP_DigestSign(ctx.get(), der_buf, &der_len, in, input.size()) != 1) return false;
  const unsigned char* p = der_buf;
  ossl::EcdsaSigPtr sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return false;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  unsigned char out[2 * kP256Bytes];
  if (BN_bn2binpad(r, out, kP256Bytes) != static_cast<int>(kP256Bytes) ||
      BN_bn2binpad(s, out + kP256Bytes, kP256Bytes) != static_cast<int>(kP256Bytes)) {
    return false;
  }
  raw_sig->assign(reinterpret_cast<const char*>(out), sizeof(out));
  return true;
}

bool SignHs256(const std::string& secret, std::string_view input, std::string* mac_out) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
           &len) == nullptr) {
    return false;
  }
  mac_out->assign(reinterpret_cast<const char*>(mac), len);
  return true;
}

Status Mint(std::string_view private_jwks_json, std::string_view kid, std::string_view claims_json,
            std::string* token) {
  json doc =
      json::parse(private_jwks_json.data(), private_jwks_json.data() + private_jwks_json.size(),
                  nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Status::InvalidArgument("private JWKS is not a JSON object");
  auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) {
    return Status::InvalidArgument("private JWKS has no \"keys\" array");
  }
  const json* jwk = nullptr;
  for (const json& candidate : *keys) {
    if (!candidate.is_object()) continue;
    auto k = candidate.find("kid");
    if (k == candidate.end() || !k->is_string() || k->get_ref<const std::string&>() != kid)
      continue;
    if (jwk != nullptr) return Status::InvalidArgument("private JWKS has duplicate kid");
    jwk = &candidate;
  }
  if (jwk == nullptr) return Status::NotFound("no key with kid \"" + std::string(kid) + "\"");

  json claims = json::parse(claims_json.data(), claims_json.data() + claims_json.size(), nullptr,
                            /*allow_exceptions=*/false);
  if (!claims.is_object()) return Status::InvalidArgument("claims are not a JSON object");

  auto kty = jwk->find("kty");
  if (kty == jwk->end() || !kty->is_string()) return Status::InvalidArgument("key has no \"kty\"");
  const char* alg = nullptr;
  if (*kty == "oct") {
    alg = "HS256";
  } else if (*kty == "EC") {
    alg = "ES256";
  } else {
    return Status::InvalidArgument("unsupported \"kty\"");
  }
  if (auto a = jwk->find("alg"); a != jwk->end() && (!a->is_string() || *a != alg)) {
    return Status::InvalidArgument("key \"alg\" does not match its \"kty\"");
  }

  json header = {{"alg", alg}, {"typ", "JWT"}, {"kid", std::string(kid)}};
  std::string signing_input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims_json);
  std::string signature;
  ossl::ErrorMark mark;
  if (*kty == "oct") {
    SecretString secret;
    Status s = DecodeMember(*jwk, "k", &secret.value);
    if (!s.ok()) return s;
    if (secret.value.size() < kMinHmacSecretBytes) {
      return Status::InvalidArgument("HS256 secret shorter than 16 bytes");
    }
    if (!SignHs256(secret.value, signing_input, &signature)) {
      return Status::Unavailable("HMAC-SHA256 failed");
    }
  } else {
    auto crv = jwk->find("crv");
    if (crv == jwk->end() || !crv->is_string() || *crv != "P-256") {
      return Status::InvalidArgument("EC key \"crv\" must be \"P-256\"");
    }
    std::string x, y;
    SecretString d;
    Status s = DecodeMember(*jwk, "x", &x);
    if (s.ok()) s = DecodeMember(*jwk, "y", &y);
    if (s.ok()) s = DecodeMember(*jwk, "d", &d.value);
    if (!s.ok()) return s;
    if (x.size() != kP256Bytes || y.size() != kP256Bytes || d.value.size() != kP256Bytes) {
      return Status::InvalidArgument("EC key x, y and d must be 32 bytes each");
    }
    ossl::PkeyPtr pkey = MakeP256Key(x, y, &d.value);
    if (!pkey) return Status::InvalidArgument("EC key is not a valid P-256 key pair");
    if (!SignEs256(pkey.get(), signing_input, &signature)) {
      return Status::Unavailable("ECDSA signing failed");
    }
  }
  *token = signing_input + "." + Base64UrlEncode(signature);
  return Status::Ok();
}

}  // namespace

Status MintToken(std::string_view private_jwks_json, std::string_view kid,
                 std::string_view claims_json, std::string* token) {
  try {
    return Mint(private_jwks_json, kid, claims_json, token);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("MintToken: ") + e.what());
  }
}

}  // namespace chat
