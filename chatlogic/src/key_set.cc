#include "chat/key_set.h"

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
#include <utility>

#include "chat/base64url.h"
#include "openssl_handles.h"
#include "p256_key.h"

namespace chat {
namespace {

using nlohmann::json;

// Shortest accepted HS256 secret, in bytes.
constexpr size_t kMinHmacSecretBytes = 16;
constexpr size_t kHs256Bytes = 32;
constexpr size_t kP256CoordBytes = 32;

void Cleanse(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
}

class HmacKey final : public VerificationKey {
 public:
  explicit HmacKey(std::string secret) : secret_(std::move(secret)) {}
  ~HmacKey() override { Cleanse(&secret_); }
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;

  JwtAlg alg() const override { return JwtAlg::kHS256; }

  bool Verify(std::string_view signing_input, std::string_view signature) const override {
    if (signature.size() != kHs256Bytes) return false;
    ossl::ErrorMark mark;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
             reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
             mac, &mac_len) == nullptr ||
        mac_len != kHs256Bytes) {
      return false;
    }
    bool equal = CRYPTO_memcmp(mac, signature.data(), kHs256Bytes) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    return equal;
  }

 private:
  std::string secret_;
};

// JWS ES256 signatures are r||s, 32 bytes each; OpenSSL wants DER.
bool RawEcdsaToDer(std::string_view raw, std::string* der) {
  ossl::EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!sig) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(p, static_cast<int>(kP256CoordBytes), nullptr);
  BIGNUM* s = BN_bin2bn(p + kP256CoordBytes, static_cast<int>(kP256CoordBytes), nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* buf = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &buf);
  if (len <= 0) return false;
  der->assign(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return true;
}

class EcKey final : public VerificationKey {
 public:
  explicit EcKey(ossl::PkeyPtr pkey) : pkey_(std::move(pkey)) {}

  JwtAlg alg() const override { return JwtAlg::kES256; }

  bool Verify(std::string_view signing_input, std::string_view signature) const override {
    if (signature.size() != 2 * kP256CoordBytes) return false;
    ossl::ErrorMark mark;
    std::string der;
    if (!RawEcdsaToDer(signature, &der)) return false;
    ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey_.get()) != 1) {
      return false;
    }
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der.data()),
                            der.size(),
                            reinterpret_cast<const unsigned char*>(signing_input.data()),
                            signing_input.size()) == 1;
  }

 private:
  ossl::PkeyPtr pkey_;
};


// Reads a required base64url string member.
Status DecodeMember(const json& jwk, const char* name, std::string* out) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) {
    return Status::InvalidArgument(std::string("missing string member \"") + name + "\"");
  }
  if (!Base64UrlDecode(it->get_ref<const std::string&>(), out)) {
    return Status::InvalidArgument(std::string("member \"") + name + "\" is not base64url");
  }
  return Status::Ok();
}

// Parses one JWK. *key stays null when the key is to be skipped.
Status ParseKey(const json& jwk, std::string* kid, std::unique_ptr<VerificationKey>* key) {
  if (!jwk.is_object()) return Status::InvalidArgument("not a JSON object");

  if (auto use = jwk.find("use"); use != jwk.end()) {
    if (!use->is_string()) return Status::InvalidArgument("\"use\" is not a string");
    if (*use != "sig") return Status::Ok();  // not a signing key: not ours
  }

  auto kid_it = jwk.find("kid");
  if (kid_it == jwk.end() || !kid_it->is_string() ||
      kid_it->get_ref<const std::string&>().empty()) {
    return Status::InvalidArgument("missing or empty \"kid\"");
  }
  *kid = kid_it->get<std::string>();

  auto kty_it = jwk.find("kty");
  if (kty_it == jwk.end() || !kty_it->is_string()) {
    return Status::InvalidArgument("missing \"kty\"");
  }
  const std::string& kty = kty_it->get_ref<const std::string&>();
  const char* expected_alg = nullptr;
  if (kty == "oct") {
    expected_alg = "HS256";
  } else if (kty == "EC") {
    expected_alg = "ES256";
  } else {
    return Status::InvalidArgument("unsupported \"kty\" \"" + kty + "\"");
  }
  if (auto alg = jwk.find("alg"); alg != jwk.end()) {
    if (!alg->is_string() || *alg != expected_alg) {
      return Status::InvalidArgument(std::string("\"alg\" does not match kty ") + kty +
                                     " (expected " + expected_alg + ")");
    }
  }

  if (kty == "oct") {
    std::string secret;
    Status s = DecodeMember(jwk, "k", &secret);
    if (!s.ok()) return s;
    if (secret.size() < kMinHmacSecretBytes) {
      Cleanse(&secret);
      return Status::InvalidArgument("HS256 secret shorter than " +
                                     std::to_string(kMinHmacSecretBytes) + " bytes");
    }
    *key = std::make_unique<HmacKey>(std::move(secret));
    return Status::Ok();
  }

  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string() || *crv != "P-256") {
    return Status::InvalidArgument("EC key \"crv\" must be \"P-256\"");
  }
  std::string x, y;
  Status s = DecodeMember(jwk, "x", &x);
  if (s.ok()) s = DecodeMember(jwk, "y", &y);
  if (!s.ok()) return s;
  if (x.size() != kP256CoordBytes || y.size() != kP256CoordBytes) {
    return Status::InvalidArgument("EC key coordinates must be 32 bytes each");
  }
  ossl::PkeyPtr pkey = MakeP256Key(x, y, nullptr);
  if (!pkey) return Status::InvalidArgument("EC key is not a valid P-256 point");
  *key = std::make_unique<EcKey>(std::move(pkey));
  return Status::Ok();
}

}  // namespace

Status KeySet::Parse(std::string_view jwks_json, std::shared_ptr<const KeySet>* out) {
  try {
    json doc = json::parse(jwks_json.data(), jwks_json.data() + jwks_json.size(), nullptr,
                           /*allow_exceptions=*/false);
    if (doc.is_discarded()) return Status::InvalidArgument("JWKS is not valid JSON");
    if (!doc.is_object()) return Status::InvalidArgument("JWKS is not a JSON object");
    auto keys = doc.find("keys");
    if (keys == doc.end() || !keys->is_array()) {
      return Status::InvalidArgument("JWKS has no \"keys\" array");
    }
    auto set = std::make_shared<KeySet>();
    size_t index = 0;
    for (const json& jwk : *keys) {
      std::string kid;
      std::unique_ptr<VerificationKey> key;
      Status s = ParseKey(jwk, &kid, &key);
      if (!s.ok()) {
        return Status::InvalidArgument("JWKS key #" + std::to_string(index) +
                                       (kid.empty() ? "" : " (kid \"" + kid + "\")") + ": " +
                                       s.message());
      }
      if (key && !set->keys_.emplace(kid, std::move(key)).second) {
        return Status::InvalidArgument("JWKS has duplicate kid \"" + kid + "\"");
      }
      ++index;
    }
    if (set->keys_.empty()) return Status::InvalidArgument("JWKS has no usable signing key");
    *out = std::move(set);
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("JWKS: ") + e.what());
  }
}

const VerificationKey* KeySet::Find(std::string_view kid) const {
  auto it = keys_.find(std::string(kid));
  return it == keys_.end() ? nullptr : it->second.get();
}

}  // namespace chat
