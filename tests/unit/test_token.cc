// Connect-token verification and minting: every TokenError refusal, for
// HS256 and ES256 where it applies, with keys generated at test time.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/base64url.h"
#include "chat/env.h"
#include "chat/key_set.h"
#include "chat/token_minter.h"
#include "chat/token_verifier.h"

// Last: cmocka.h defines macros (fail, ...) that clash with the standard library.
#include "cmocka_wrap.h"

namespace {

using chat::TokenError;
using nlohmann::json;

constexpr int64_t kNow = 1'700'000'000;  // seconds

// ---------------------------------------------------------------------------
// Keys, generated once per run

struct EcTestKey {
  EVP_PKEY* pkey = nullptr;
  std::string x, y, d;  // base64url
};

struct Fixture {
  EcTestKey es_a, es_b;
  std::string hs_a, hs_b;  // raw secrets
  std::string private_jwks;
  std::string public_jwks;
  std::shared_ptr<const chat::KeySet> keys;
};
Fixture* g = nullptr;

std::string B64(std::string_view s) { return chat::Base64UrlEncode(s); }

std::string ExportBn(EVP_PKEY* pkey, const char* param) {
  BIGNUM* bn = nullptr;
  assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
  unsigned char buf[32];
  assert_int_equal(BN_bn2binpad(bn, buf, sizeof(buf)), 32);
  BN_clear_free(bn);
  return B64(std::string_view(reinterpret_cast<const char*>(buf), sizeof(buf)));
}

EcTestKey NewEcKey() {
  EcTestKey k;
  k.pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  assert_non_null(k.pkey);
  k.x = ExportBn(k.pkey, OSSL_PKEY_PARAM_EC_PUB_X);
  k.y = ExportBn(k.pkey, OSSL_PKEY_PARAM_EC_PUB_Y);
  k.d = ExportBn(k.pkey, OSSL_PKEY_PARAM_PRIV_KEY);
  return k;
}

std::string NewSecret() {
  std::string s(32, '\0');
  assert_int_equal(RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), 32), 1);
  return s;
}

json EcJwk(const std::string& kid, const EcTestKey& k, bool with_private) {
  json j = {{"kty", "EC"}, {"crv", "P-256"}, {"kid", kid}, {"x", k.x}, {"y", k.y}};
  if (with_private) j["d"] = k.d;
  return j;
}

json OctJwk(const std::string& kid, const std::string& secret) {
  return {{"kty", "oct"}, {"kid", kid}, {"k", B64(secret)}};
}

std::shared_ptr<const chat::KeySet> ParseKeys(const std::string& jwks) {
  std::shared_ptr<const chat::KeySet> keys;
  chat::Status s = chat::KeySet::Parse(jwks, &keys);
  if (!s.ok()) fail_msg("KeySet::Parse: %s", s.ToString().c_str());
  return keys;
}

int GroupSetup(void**) {
  g = new Fixture;
  g->es_a = NewEcKey();
  g->es_b = NewEcKey();
  g->hs_a = NewSecret();
  g->hs_b = NewSecret();
  g->private_jwks = json{{"keys",
                          {EcJwk("es-a", g->es_a, true), EcJwk("es-b", g->es_b, true),
                           OctJwk("hs-a", g->hs_a), OctJwk("hs-b", g->hs_b)}}}
                        .dump();
  g->public_jwks = json{{"keys",
                         {EcJwk("es-a", g->es_a, false), EcJwk("es-b", g->es_b, false),
                          OctJwk("hs-a", g->hs_a), OctJwk("hs-b", g->hs_b)}}}
                       .dump();
  g->keys = ParseKeys(g->public_jwks);
  return 0;
}

int GroupTeardown(void**) {
  EVP_PKEY_free(g->es_a.pkey);
  EVP_PKEY_free(g->es_b.pkey);
  delete g;
  g = nullptr;
  return 0;
}

// ---------------------------------------------------------------------------
// An independent signer (not MintToken), so header and payload can be
// anything and the verifier is checked against a second implementation.

std::string RawSign(const std::string& kid, const std::string& input) {
  if (kid == "hs-a" || kid == "hs-b") {
    const std::string& secret = kid == "hs-a" ? g->hs_a : g->hs_b;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    assert_non_null(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                         &len));
    return std::string(reinterpret_cast<const char*>(mac), len);
  }
  EVP_PKEY* pkey = kid == "es-a" ? g->es_a.pkey : g->es_b.pkey;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey), 1);
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  assert_int_equal(EVP_DigestSign(ctx, nullptr, &len, in, input.size()), 1);
  std::vector<unsigned char> der(len);
  assert_int_equal(EVP_DigestSign(ctx, der.data(), &len, in, input.size()), 1);
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  assert_non_null(sig);
  unsigned char raw[64];
  assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32), 32);
  assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32), 32);
  ECDSA_SIG_free(sig);
  return std::string(reinterpret_cast<const char*>(raw), sizeof(raw));
}

// header.payload signed with the key `sign_kid` (not necessarily the
// header's kid).
std::string SignedToken(const std::string& header, const std::string& payload,
                        const std::string& sign_kid) {
  std::string input = B64(header) + "." + B64(payload);
  return input + "." + B64(RawSign(sign_kid, input));
}

// ---------------------------------------------------------------------------
// Per-algorithm cases

struct AlgCase {
  const char* alg;
  const char* kid_a;
  const char* kid_b;
  const char* other_alg_kid;  // a key of the other type
};
AlgCase kHs = {"HS256", "hs-a", "hs-b", "es-a"};
AlgCase kEs = {"ES256", "es-a", "es-b", "hs-a"};

const AlgCase& Case(void** state) { return *static_cast<const AlgCase*>(*state); }

std::string Header(const AlgCase& c, const std::string& kid) {
  return json{{"alg", c.alg}, {"kid", kid}, {"typ", "JWT"}}.dump();
}

json Claims(int64_t iat = kNow, int64_t exp = kNow + 60, const std::string& sub = "alice",
            const std::string& jti = "jti-1") {
  return {{"sub", sub}, {"iat", iat}, {"exp", exp}, {"jti", jti}};
}

std::string Mint(const std::string& kid, const std::string& claims) {
  std::string token;
  chat::Status s = chat::MintToken(g->private_jwks, kid, claims, &token);
  if (!s.ok()) fail_msg("MintToken: %s", s.ToString().c_str());
  return token;
}
std::string Mint(const std::string& kid, const json& claims) { return Mint(kid, claims.dump()); }

TokenError Verify(const std::string& token, int64_t now = kNow, const chat::KeySet* keys = nullptr,
                  chat::TokenClaims* out = nullptr,
                  const chat::TokenPolicy& policy = chat::TokenPolicy()) {
  chat::TokenClaims local;
  return chat::VerifyToken(token, keys ? *keys : *g->keys, policy, now, out ? out : &local);
}

// Compares by name so a failure says which refusal came instead.
#define EXPECT_TOKEN(expected, actual) \
  assert_string_equal(chat::TokenErrorName(expected), chat::TokenErrorName(actual))

// ---------------------------------------------------------------------------
// Accepting

void test_accepts_minted_token(void** state) {
  const AlgCase& c = Case(state);
  std::string token = Mint(c.kid_a, Claims());
  chat::TokenClaims claims;
  EXPECT_TOKEN(TokenError::kNone, Verify(token, kNow, nullptr, &claims));
  assert_string_equal(claims.sub.c_str(), "alice");
  assert_string_equal(claims.jti.c_str(), "jti-1");
  assert_int_equal(claims.iat, kNow);
  assert_int_equal(claims.exp, kNow + 60);
  assert_false(claims.admin);
  assert_true(chat::LooksLikeJwt(token));
}

void test_minted_header_has_alg_typ_kid(void** state) {
  const AlgCase& c = Case(state);
  std::string token = Mint(c.kid_a, Claims());
  std::string header;
  assert_true(chat::Base64UrlDecode(token.substr(0, token.find('.')), &header));
  json h = json::parse(header);
  assert_true(h == (json{{"alg", c.alg}, {"typ", "JWT"}, {"kid", c.kid_a}}));
  // Signature length is the algorithm's raw size.
  std::string sig;
  assert_true(chat::Base64UrlDecode(token.substr(token.rfind('.') + 1), &sig));
  assert_int_equal(sig.size(), std::string(c.alg) == "HS256" ? 32 : 64);
}

void test_minted_claims_used_as_given(void** state) {
  const AlgCase& c = Case(state);
  std::string claims =
      "{ \"sub\" : \"alice\", \"iat\": 1700000000, \"exp\": 1700000060,\n"
      "  \"jti\": \"x\", \"extra\": [1, 2] }";
  std::string token = Mint(c.kid_a, claims);
  size_t d1 = token.find('.'), d2 = token.rfind('.');
  std::string payload;
  assert_true(chat::Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1), &payload));
  assert_string_equal(payload.c_str(), claims.c_str());
  EXPECT_TOKEN(TokenError::kNone, Verify(token));
}

void test_accepts_independently_signed_token(void** state) {
  const AlgCase& c = Case(state);
  // No typ, extra header members: typ is ignored, unknown members too.
  std::string header = json{{"alg", c.alg}, {"kid", c.kid_a}, {"x-extra", 1}}.dump();
  EXPECT_TOKEN(TokenError::kNone, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
  header = json{{"alg", c.alg}, {"kid", c.kid_a}, {"typ", "something-else"}}.dump();
  EXPECT_TOKEN(TokenError::kNone, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
}

void test_admin_role(void** state) {
  const AlgCase& c = Case(state);
  chat::TokenClaims claims;
  json j = Claims();
  j["role"] = "admin";
  EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.kid_a, j), kNow, nullptr, &claims));
  assert_true(claims.admin);
  for (json role : {json("user"), json("Admin"), json(1), json::array({"admin"})}) {
    j["role"] = role;
    claims = chat::TokenClaims();
    EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.kid_a, j), kNow, nullptr, &claims));
    assert_false(claims.admin);
  }
}

void test_several_live_keys(void** state) {
  const AlgCase& c = Case(state);
  // Both keys of this algorithm and one of the other verify at once; kid selects.
  EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.kid_a, Claims())));
  EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.kid_b, Claims())));
  EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.other_alg_kid, Claims())));
  assert_int_equal(g->keys->size(), 4);
}

// ---------------------------------------------------------------------------
// kMalformed

void test_malformed_shape(void**) {
  std::string good = Mint("hs-a", Claims());
  size_t d1 = good.find('.'), d2 = good.rfind('.');
  std::string h = good.substr(0, d1), p = good.substr(d1 + 1, d2 - d1 - 1), s = good.substr(d2 + 1);
  const std::vector<std::string> bad = {
      "",
      "..",
      h,
      h + "." + p,
      h + "." + p + "." + s + "." + s,
      h + "." + p + "." + s + ".",
      "." + p + "." + s,
      h + ".." + s,
      h + "." + p + "." + s + "=",  // padding
      h + "=." + p + "." + s,
      h + "." + p + "." + s + " ",  // whitespace
      " " + h + "." + p + "." + s,
      h + "." + p + "." + s.substr(0, s.size() - 1) + "+",  // standard alphabet
      h + "." + p + "/." + s,
      h + "." + p + "." + s.substr(0, 1),  // len % 4 == 1: no encoding has it
  };
  for (const auto& token : bad) {
    if (Verify(token) != TokenError::kMalformed) fail_msg("accepted shape: '%s'", token.c_str());
  }
  // The unmodified token is fine, so the refusals above are about shape.
  EXPECT_TOKEN(TokenError::kNone, Verify(good));
}

void test_malformed_header_not_json_object(void** state) {
  const AlgCase& c = Case(state);
  for (std::string header :
       {std::string("not json"), std::string("[\"alg\",\"HS256\"]"), std::string("\"HS256\""),
        std::string("{\"alg\":\"HS256\""), std::string("null")}) {
    EXPECT_TOKEN(TokenError::kMalformed, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
  }
}

void test_malformed_claims_not_json_object(void** state) {
  const AlgCase& c = Case(state);
  std::string header = Header(c, c.kid_a);
  for (std::string payload : {std::string("not json"), std::string("[1,2]"), std::string("42"),
                              std::string("{\"sub\":"), std::string("{\"sub\":\"\xff\"}")}) {
    std::string token = SignedToken(header, payload, c.kid_a);
    EXPECT_TOKEN(TokenError::kMalformed, Verify(token));
    // Signed by another key, the same payload is a signature failure: the
    // payload is not looked at before the signature checks out.
    EXPECT_TOKEN(TokenError::kBadSignature, Verify(SignedToken(header, payload, c.kid_b)));
  }
}

void test_malformed_crit_header(void** state) {
  const AlgCase& c = Case(state);
  std::string header = json{{"alg", c.alg}, {"kid", c.kid_a}, {"crit", {"exp"}}}.dump();
  EXPECT_TOKEN(TokenError::kMalformed, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
}

// Builds a validly signed token of exactly `length` characters, padding the
// header and a claim.
std::string TokenOfLength(const AlgCase& c, size_t length) {
  for (int header_pad = 0; header_pad < 4; ++header_pad) {
    std::string header =
        json{{"alg", c.alg}, {"kid", c.kid_a}, {"p", std::string(header_pad, 'h')}}.dump();
    json claims = Claims();
    claims["pad"] = "";
    size_t base = SignedToken(header, claims.dump(), c.kid_a).size();
    if (base > length) fail_msg("base token too long");
    size_t n = (length - base) * 3 / 4;
    n = n > 8 ? n - 8 : 0;
    for (;; ++n) {
      claims["pad"] = std::string(n, 'x');
      std::string token = SignedToken(header, claims.dump(), c.kid_a);
      if (token.size() == length) return token;
      if (token.size() > length) break;
    }
  }
  fail_msg("no token of length %zu", length);
  return "";
}

void test_malformed_too_long(void** state) {
  const AlgCase& c = Case(state);
  std::string at_cap = TokenOfLength(c, 8192);
  assert_int_equal(at_cap.size(), 8192);
  EXPECT_TOKEN(TokenError::kNone, Verify(at_cap));
  std::string over = TokenOfLength(c, 8193);
  EXPECT_TOKEN(TokenError::kMalformed, Verify(over));
  EXPECT_TOKEN(TokenError::kMalformed, Verify(TokenOfLength(c, 20000)));
}

// ---------------------------------------------------------------------------
// kUnsupportedAlg

void test_unsupported_alg_none_empty_signature(void** state) {
  const AlgCase& c = Case(state);
  std::string header = json{{"alg", "none"}, {"kid", c.kid_a}, {"typ", "JWT"}}.dump();
  std::string token = B64(header) + "." + B64(Claims().dump()) + ".";
  EXPECT_TOKEN(TokenError::kUnsupportedAlg, Verify(token));
  // Without kid either.
  token = B64("{\"alg\":\"none\"}") + "." + B64(Claims().dump()) + ".";
  EXPECT_TOKEN(TokenError::kUnsupportedAlg, Verify(token));
}

void test_unsupported_alg_none_with_signature(void** state) {
  const AlgCase& c = Case(state);
  std::string header = json{{"alg", "none"}, {"kid", c.kid_a}}.dump();
  EXPECT_TOKEN(TokenError::kUnsupportedAlg, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
}

void test_unsupported_alg_others(void** state) {
  const AlgCase& c = Case(state);
  for (json alg : {json("HS384"), json("HS512"), json("RS256"), json("PS256"), json("ES384"),
                   json("ES256K"), json("EdDSA"), json("hs256"), json("es256"), json("HS256 "),
                   json(""), json("None"), json(256), json(nullptr), json::array({c.alg})}) {
    std::string header = json{{"alg", alg}, {"kid", c.kid_a}}.dump();
    TokenError e = Verify(SignedToken(header, Claims().dump(), c.kid_a));
    if (e != TokenError::kUnsupportedAlg) {
      fail_msg("alg %s: %s", alg.dump().c_str(), chat::TokenErrorName(e));
    }
  }
}

void test_unsupported_alg_missing(void** state) {
  const AlgCase& c = Case(state);
  std::string header = json{{"kid", c.kid_a}, {"typ", "JWT"}}.dump();
  EXPECT_TOKEN(TokenError::kUnsupportedAlg, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
}

// ---------------------------------------------------------------------------
// kUnknownKey

void test_unknown_key_kid_not_in_set(void** state) {
  const AlgCase& c = Case(state);
  std::string header = Header(c, "no-such-kid");
  EXPECT_TOKEN(TokenError::kUnknownKey, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
  // kid is matched exactly.
  header = Header(c, std::string(c.kid_a) + " ");
  EXPECT_TOKEN(TokenError::kUnknownKey, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
}

void test_unknown_key_kid_missing_or_not_string(void** state) {
  const AlgCase& c = Case(state);
  std::string header = json{{"alg", c.alg}, {"typ", "JWT"}}.dump();
  EXPECT_TOKEN(TokenError::kUnknownKey, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
  for (json kid : {json(1), json(nullptr), json::array({c.kid_a}), json("")}) {
    header = json{{"alg", c.alg}, {"kid", kid}}.dump();
    EXPECT_TOKEN(TokenError::kUnknownKey, Verify(SignedToken(header, Claims().dump(), c.kid_a)));
  }
}

void test_unknown_key_after_rotation(void** state) {
  const AlgCase& c = Case(state);
  std::string token_a = Mint(c.kid_a, Claims());
  std::string token_b = Mint(c.kid_b, Claims());
  EXPECT_TOKEN(TokenError::kNone, Verify(token_a));
  // The new set drops key A and keeps B.
  json keys = json::array();
  const json doc = json::parse(g->public_jwks);
  for (const auto& k : doc["keys"]) {
    if (k["kid"] != c.kid_a) keys.push_back(k);
  }
  auto rotated = ParseKeys(json{{"keys", keys}}.dump());
  assert_int_equal(rotated->size(), 3);
  EXPECT_TOKEN(TokenError::kUnknownKey, Verify(token_a, kNow, rotated.get()));
  EXPECT_TOKEN(TokenError::kNone, Verify(token_b, kNow, rotated.get()));
}

// ---------------------------------------------------------------------------
// kAlgMismatch

void test_alg_mismatch_hs256_header_with_ec_kid(void**) {
  // The classic confusion: HMAC keyed with the EC public key's bytes.
  std::string header = json{{"alg", "HS256"}, {"kid", "es-a"}}.dump();
  std::string input = B64(header) + "." + B64(Claims().dump());
  std::string x, y;
  assert_true(chat::Base64UrlDecode(g->es_a.x, &x));
  assert_true(chat::Base64UrlDecode(g->es_a.y, &y));
  std::string pub = "\x04" + x + y;
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), pub.data(), static_cast<int>(pub.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  std::string token = input + "." + B64(std::string(reinterpret_cast<char*>(mac), len));
  EXPECT_TOKEN(TokenError::kAlgMismatch, Verify(token));
  // Also when signed with a real HS256 key.
  EXPECT_TOKEN(TokenError::kAlgMismatch, Verify(SignedToken(header, Claims().dump(), "hs-a")));
}

void test_alg_mismatch_es256_header_with_oct_kid(void**) {
  std::string header = json{{"alg", "ES256"}, {"kid", "hs-a"}}.dump();
  EXPECT_TOKEN(TokenError::kAlgMismatch, Verify(SignedToken(header, Claims().dump(), "es-a")));
  EXPECT_TOKEN(TokenError::kAlgMismatch, Verify(SignedToken(header, Claims().dump(), "hs-a")));
}

// ---------------------------------------------------------------------------
// kBadSignature

std::string Segment(const std::string& token, int i) {
  size_t d1 = token.find('.'), d2 = token.rfind('.');
  if (i == 0) return token.substr(0, d1);
  if (i == 1) return token.substr(d1 + 1, d2 - d1 - 1);
  return token.substr(d2 + 1);
}

void test_bad_signature_tampered_payload(void** state) {
  const AlgCase& c = Case(state);
  std::string token = Mint(c.kid_a, Claims());
  json evil = Claims(kNow, kNow + 60, "mallory");
  std::string forged = Segment(token, 0) + "." + B64(evil.dump()) + "." + Segment(token, 2);
  EXPECT_TOKEN(TokenError::kBadSignature, Verify(forged));
  evil = Claims();
  evil["role"] = "admin";
  forged = Segment(token, 0) + "." + B64(evil.dump()) + "." + Segment(token, 2);
  EXPECT_TOKEN(TokenError::kBadSignature, Verify(forged));
}

void test_bad_signature_tampered_header(void** state) {
  const AlgCase& c = Case(state);
  std::string token = Mint(c.kid_a, Claims());
  std::string header = json{{"alg", c.alg}, {"kid", c.kid_a}, {"typ", "JWT"}, {"x", 1}}.dump();
  std::string forged = B64(header) + "." + Segment(token, 1) + "." + Segment(token, 2);
  EXPECT_TOKEN(TokenError::kBadSignature, Verify(forged));
}

void test_bad_signature_other_keys_kid(void** state) {
  const AlgCase& c = Case(state);
  // Signed by A, naming B.
  std::string token = SignedToken(Header(c, c.kid_b), Claims().dump(), c.kid_a);
  EXPECT_TOKEN(TokenError::kBadSignature, Verify(token));
  // And the other way round.
  token = SignedToken(Header(c, c.kid_a), Claims().dump(), c.kid_b);
  EXPECT_TOKEN(TokenError::kBadSignature, Verify(token));
}

void test_bad_signature_mangled(void** state) {
  const AlgCase& c = Case(state);
  std::string token = Mint(c.kid_a, Claims());
  std::string input = token.substr(0, token.rfind('.'));
  std::string sig;
  assert_true(chat::Base64UrlDecode(Segment(token, 2), &sig));
  std::vector<std::string> bad_sigs = {
      "",                             // empty
      sig.substr(0, sig.size() - 1),  // truncated
      sig + '\0',                     // extended
      std::string(sig.size(), '\0'),  // zeros
  };
  for (size_t i : {size_t{0}, sig.size() / 2, sig.size() - 1}) {
    std::string flipped = sig;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    bad_sigs.push_back(flipped);
  }
  for (const auto& s : bad_sigs) {
    EXPECT_TOKEN(TokenError::kBadSignature, Verify(input + "." + B64(s)));
  }
  EXPECT_TOKEN(TokenError::kNone, Verify(input + "." + B64(sig)));
}

void test_bad_signature_es256_der_encoding(void**) {
  // JWS wants r||s; the DER form OpenSSL produces natively is refused.
  std::string header = Header(kEs, "es-a");
  std::string input = B64(header) + "." + B64(Claims().dump());
  std::string raw = RawSign("es-a", input);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  std::string der_sig(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  EXPECT_TOKEN(TokenError::kBadSignature, Verify(input + "." + B64(der_sig)));
  EXPECT_TOKEN(TokenError::kNone, Verify(input + "." + B64(raw)));
}

void test_bad_signature_checked_before_claims(void** state) {
  const AlgCase& c = Case(state);
  // Claims that would fail every claim check: still a signature failure.
  json claims = {{"sub", "not valid!"}, {"iat", "x"}, {"exp", 1}};
  std::string token = SignedToken(Header(c, c.kid_a), claims.dump(), c.kid_b);
  EXPECT_TOKEN(TokenError::kBadSignature, Verify(token));
  token = SignedToken(Header(c, c.kid_a), Claims(0, 10).dump(), c.kid_b);  // long expired
  EXPECT_TOKEN(TokenError::kBadSignature, Verify(token));
}

// ---------------------------------------------------------------------------
// kMissingClaim

void test_missing_claim(void** state) {
  const AlgCase& c = Case(state);
  struct Bad {
    const char* what;
    json claims;
  };
  auto without = [](const char* name) {
    json j = Claims();
    j.erase(name);
    return j;
  };
  auto with = [](const char* name, json v) {
    json j = Claims();
    j[name] = std::move(v);
    return j;
  };
  const std::vector<Bad> bad = {
      {"no sub", without("sub")},
      {"no exp", without("exp")},
      {"no iat", without("iat")},
      {"no jti", without("jti")},
      {"empty object", json::object()},
      {"sub number", with("sub", 7)},
      {"sub null", with("sub", nullptr)},
      {"sub array", with("sub", json::array({"alice"}))},
      {"exp string", with("exp", std::to_string(kNow + 60))},
      {"exp float", with("exp", static_cast<double>(kNow + 60))},
      {"exp fractional", with("exp", kNow + 60.5)},
      {"exp bool", with("exp", true)},
      {"exp over int64", with("exp", std::numeric_limits<uint64_t>::max())},
      {"iat string", with("iat", std::to_string(kNow))},
      {"iat float", with("iat", static_cast<double>(kNow))},
      {"iat null", with("iat", nullptr)},
      {"jti empty", with("jti", "")},
      {"jti number", with("jti", 5)},
      {"jti 257 chars", with("jti", std::string(257, 'j'))},
      {"nbf string", with("nbf", std::to_string(kNow))},
      {"nbf float", with("nbf", static_cast<double>(kNow))},
  };
  for (const auto& b : bad) {
    TokenError e = Verify(Mint(c.kid_a, b.claims));
    if (e != TokenError::kMissingClaim) fail_msg("%s: %s", b.what, chat::TokenErrorName(e));
  }
  // The boundaries that are fine.
  EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.kid_a, with("jti", std::string(256, 'j')))));
  EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.kid_a, with("nbf", kNow))));
}

void test_missing_claim_float_literal(void** state) {
  const AlgCase& c = Case(state);
  // Written by hand, so the literal is exactly what a sloppy issuer sends.
  std::string claims = "{\"sub\":\"alice\",\"iat\":1700000000,\"exp\":1.70000006e9,\"jti\":\"j\"}";
  EXPECT_TOKEN(TokenError::kMissingClaim, Verify(Mint(c.kid_a, claims)));
  claims = "{\"sub\":\"alice\",\"iat\":1700000000.0,\"exp\":1700000060,\"jti\":\"j\"}";
  EXPECT_TOKEN(TokenError::kMissingClaim, Verify(Mint(c.kid_a, claims)));
}

// ---------------------------------------------------------------------------
// Time: kExpired, kNotYetValid, kLifetimeTooLong, on a moved FakeEnv clock

void test_expired_edge(void** state) {
  const AlgCase& c = Case(state);
  chat::FakeEnv env(1'700'000'000'000 + 250);  // a quarter second past
  const chat::TokenPolicy policy;              // leeway 5 s
  int64_t now = env.NowMs() / 1000;
  std::string token = Mint(c.kid_a, Claims(now, now + 60));
  chat::TokenClaims out;
  EXPECT_TOKEN(TokenError::kNone, Verify(token, env.NowMs() / 1000, nullptr, &out, policy));
  env.AdvanceMs((60 + policy.leeway_s) * 1000);  // now == exp + leeway
  assert_int_equal(env.NowMs() / 1000, now + 60 + policy.leeway_s);
  EXPECT_TOKEN(TokenError::kNone, Verify(token, env.NowMs() / 1000, nullptr, &out, policy));
  env.AdvanceMs(1000);  // one second later
  EXPECT_TOKEN(TokenError::kExpired, Verify(token, env.NowMs() / 1000, nullptr, &out, policy));
  env.AdvanceMs(3600 * 1000);
  EXPECT_TOKEN(TokenError::kExpired, Verify(token, env.NowMs() / 1000, nullptr, &out, policy));
}

void test_expired_with_zero_leeway(void** state) {
  const AlgCase& c = Case(state);
  chat::TokenPolicy policy;
  policy.leeway_s = 0;
  std::string token = Mint(c.kid_a, Claims(kNow, kNow + 60));
  EXPECT_TOKEN(TokenError::kNone, Verify(token, kNow + 60, nullptr, nullptr, policy));
  EXPECT_TOKEN(TokenError::kExpired, Verify(token, kNow + 61, nullptr, nullptr, policy));
}

void test_not_yet_valid_iat_edge(void** state) {
  const AlgCase& c = Case(state);
  chat::FakeEnv env(1'700'000'000'000);
  const chat::TokenPolicy policy;
  int64_t now = env.NowMs() / 1000;
  int64_t iat = now + 100;
  std::string token = Mint(c.kid_a, Claims(iat, iat + 60));
  chat::TokenClaims out;
  EXPECT_TOKEN(TokenError::kNotYetValid, Verify(token, env.NowMs() / 1000, nullptr, &out, policy));
  env.SetNowMs((iat - policy.leeway_s - 1) * 1000);  // one second too early
  EXPECT_TOKEN(TokenError::kNotYetValid, Verify(token, env.NowMs() / 1000, nullptr, &out, policy));
  env.AdvanceMs(1000);  // iat == now + leeway
  EXPECT_TOKEN(TokenError::kNone, Verify(token, env.NowMs() / 1000, nullptr, &out, policy));
  assert_int_equal(out.iat, iat);
}

void test_not_yet_valid_nbf_edge(void** state) {
  const AlgCase& c = Case(state);
  chat::FakeEnv env(1'700'000'000'000);
  const chat::TokenPolicy policy;
  int64_t now = env.NowMs() / 1000;
  json claims = Claims(now, now + 120);
  claims["nbf"] = now + 60;
  std::string token = Mint(c.kid_a, claims);
  EXPECT_TOKEN(TokenError::kNotYetValid,
               Verify(token, env.NowMs() / 1000, nullptr, nullptr, policy));
  env.AdvanceMs((60 - policy.leeway_s - 1) * 1000);
  EXPECT_TOKEN(TokenError::kNotYetValid,
               Verify(token, env.NowMs() / 1000, nullptr, nullptr, policy));
  env.AdvanceMs(1000);  // nbf == now + leeway
  EXPECT_TOKEN(TokenError::kNone, Verify(token, env.NowMs() / 1000, nullptr, nullptr, policy));
}

void test_lifetime_too_long(void** state) {
  const AlgCase& c = Case(state);
  const chat::TokenPolicy policy;  // 300 s
  EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.kid_a, Claims(kNow, kNow + 300))));
  EXPECT_TOKEN(TokenError::kLifetimeTooLong, Verify(Mint(c.kid_a, Claims(kNow, kNow + 301))));
  EXPECT_TOKEN(TokenError::kLifetimeTooLong,
               Verify(Mint(c.kid_a, Claims(kNow, kNow + 86400 * 365))));
  // A stricter policy.
  chat::TokenPolicy short_policy;
  short_policy.max_lifetime_s = 60;
  std::string t61 = Mint(c.kid_a, Claims(kNow, kNow + 61));
  EXPECT_TOKEN(TokenError::kLifetimeTooLong, Verify(t61, kNow, nullptr, nullptr, short_policy));
  EXPECT_TOKEN(TokenError::kNone, Verify(t61, kNow, nullptr, nullptr, policy));
  // Extreme values must not overflow (UBSan watches this).
  json extreme = Claims(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  EXPECT_TOKEN(TokenError::kLifetimeTooLong, Verify(Mint(c.kid_a, extreme)));
}

void test_lifetime_exp_before_iat(void** state) {
  const AlgCase& c = Case(state);
  EXPECT_TOKEN(TokenError::kLifetimeTooLong, Verify(Mint(c.kid_a, Claims(kNow, kNow - 1))));
  EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.kid_a, Claims(kNow, kNow))));
}

// ---------------------------------------------------------------------------
// kBadSubject

void test_bad_subject(void** state) {
  const AlgCase& c = Case(state);
  for (std::string sub :
       {std::string(""), std::string("a b"), std::string("a/b"), std::string("alice+"),
        std::string("\xc3\xbc"), std::string(65, 'a'), std::string("#"), std::string("a\nb")}) {
    TokenError e = Verify(Mint(c.kid_a, Claims(kNow, kNow + 60, sub)));
    if (e != TokenError::kBadSubject)
      fail_msg("sub '%s': %s", sub.c_str(), chat::TokenErrorName(e));
  }
  EXPECT_TOKEN(TokenError::kNone,
               Verify(Mint(c.kid_a, Claims(kNow, kNow + 60, std::string(64, 'a')))));
  EXPECT_TOKEN(TokenError::kNone, Verify(Mint(c.kid_a, Claims(kNow, kNow + 60, "A.b_c-9"))));
}

// ---------------------------------------------------------------------------
// LooksLikeJwt, TokenErrorName, VerifyToken leaves claims alone on refusal

void test_looks_like_jwt(void**) {
  assert_true(chat::LooksLikeJwt(Mint("hs-a", Claims())));
  assert_true(chat::LooksLikeJwt(Mint("es-a", Claims())));
  assert_true(chat::LooksLikeJwt("a.b.c"));
  assert_true(chat::LooksLikeJwt("A-_9.z.0"));
  for (const char* s : {"", "password", "a.b", "a.b.c.d", ".b.c", "a..c", "a.b.", "..",
                        "a.b.c=", "a+b.c.d", "a.b/.c", "a b.c.d", "a.b.c\n", "a.b.c.", "é.b.c"}) {
    if (chat::LooksLikeJwt(s)) fail_msg("LooksLikeJwt(\"%s\") is true", s);
  }
}

void test_token_error_names(void**) {
  const std::vector<std::pair<TokenError, const char*>> names = {
      {TokenError::kNone, "none"},
      {TokenError::kMalformed, "malformed"},
      {TokenError::kUnsupportedAlg, "unsupported_alg"},
      {TokenError::kUnknownKey, "unknown_key"},
      {TokenError::kAlgMismatch, "alg_mismatch"},
      {TokenError::kBadSignature, "bad_signature"},
      {TokenError::kMissingClaim, "missing_claim"},
      {TokenError::kExpired, "expired"},
      {TokenError::kNotYetValid, "not_yet_valid"},
      {TokenError::kLifetimeTooLong, "lifetime_too_long"},
      {TokenError::kBadSubject, "bad_subject"},
  };
  for (const auto& [e, name] : names) assert_string_equal(chat::TokenErrorName(e), name);
}

void test_claims_untouched_on_refusal(void** state) {
  const AlgCase& c = Case(state);
  chat::TokenClaims out;
  out.sub = "before";
  std::string token = Mint(c.kid_a, Claims(kNow, kNow + 60, "alice"));
  EXPECT_TOKEN(TokenError::kExpired, Verify(token, kNow + 1000, nullptr, &out));
  assert_string_equal(out.sub.c_str(), "before");
}

// ---------------------------------------------------------------------------
// MintToken refusals

void test_mint_errors(void**) {
  std::string token = "unchanged";
  std::string claims = Claims().dump();
  // Unknown kid.
  chat::Status s = chat::MintToken(g->private_jwks, "nope", claims, &token);
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(chat::Status::Code::kNotFound));
  // Claims not a JSON object.
  for (const char* bad : {"", "[1]", "\"x\"", "{", "null"}) {
    s = chat::MintToken(g->private_jwks, "hs-a", bad, &token);
    assert_int_equal(static_cast<int>(s.code()),
                     static_cast<int>(chat::Status::Code::kInvalidArgument));
  }
  // Bad JWKS documents.
  assert_false(chat::MintToken("not json", "hs-a", claims, &token).ok());
  assert_false(chat::MintToken("{\"keys\":{}}", "hs-a", claims, &token).ok());
  // An EC key without d (a public JWKS) cannot sign.
  assert_false(chat::MintToken(g->public_jwks, "es-a", claims, &token).ok());
  // An EC key whose d belongs to another key.
  json mismatched = EcJwk("es-x", g->es_a, true);
  mismatched["d"] = g->es_b.d;
  assert_false(chat::MintToken(json{{"keys", {mismatched}}}.dump(), "es-x", claims, &token).ok());
  // A short HS256 secret.
  json short_key = OctJwk("hs-x", std::string(15, 'k'));
  assert_false(chat::MintToken(json{{"keys", {short_key}}}.dump(), "hs-x", claims, &token).ok());
  // Duplicate kid.
  json dup = {{"keys", {OctJwk("hs-x", g->hs_a), OctJwk("hs-x", g->hs_b)}}};
  assert_false(chat::MintToken(dup.dump(), "hs-x", claims, &token).ok());
  // Unsupported kty.
  json rsa = {{"keys", {{{"kty", "RSA"}, {"kid", "r"}, {"n", "AQAB"}, {"e", "AQAB"}}}}};
  assert_false(chat::MintToken(rsa.dump(), "r", claims, &token).ok());
  assert_string_equal(token.c_str(), "unchanged");
}

#define BOTH(f) \
  {#f "/HS256", f, nullptr, nullptr, &kHs}, { #f "/ES256", f, nullptr, nullptr, &kEs }
#define ONCE(f) cmocka_unit_test(f)

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      BOTH(test_accepts_minted_token),
      BOTH(test_minted_header_has_alg_typ_kid),
      BOTH(test_minted_claims_used_as_given),
      BOTH(test_accepts_independently_signed_token),
      BOTH(test_admin_role),
      BOTH(test_several_live_keys),
      ONCE(test_malformed_shape),
      BOTH(test_malformed_header_not_json_object),
      BOTH(test_malformed_claims_not_json_object),
      BOTH(test_malformed_crit_header),
      BOTH(test_malformed_too_long),
      BOTH(test_unsupported_alg_none_empty_signature),
      BOTH(test_unsupported_alg_none_with_signature),
      BOTH(test_unsupported_alg_others),
      BOTH(test_unsupported_alg_missing),
      BOTH(test_unknown_key_kid_not_in_set),
      BOTH(test_unknown_key_kid_missing_or_not_string),
      BOTH(test_unknown_key_after_rotation),
      ONCE(test_alg_mismatch_hs256_header_with_ec_kid),
      ONCE(test_alg_mismatch_es256_header_with_oct_kid),
      BOTH(test_bad_signature_tampered_payload),
      BOTH(test_bad_signature_tampered_header),
      BOTH(test_bad_signature_other_keys_kid),
      BOTH(test_bad_signature_mangled),
      ONCE(test_bad_signature_es256_der_encoding),
      BOTH(test_bad_signature_checked_before_claims),
      BOTH(test_missing_claim),
      BOTH(test_missing_claim_float_literal),
      BOTH(test_expired_edge),
      BOTH(test_expired_with_zero_leeway),
      BOTH(test_not_yet_valid_iat_edge),
      BOTH(test_not_yet_valid_nbf_edge),
      BOTH(test_lifetime_too_long),
      BOTH(test_lifetime_exp_before_iat),
      BOTH(test_bad_subject),
      ONCE(test_looks_like_jwt),
      ONCE(test_token_error_names),
      BOTH(test_claims_untouched_on_refusal),
      ONCE(test_mint_errors),
  };
  return cmocka_run_group_tests(tests, GroupSetup, GroupTeardown);
}
