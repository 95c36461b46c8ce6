// KeySet::Parse: what a JWKS document must look like, and what the parsed
// keys verify (RFC 7515 appendix A vectors).
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/base64url.h"
#include "chat/key_set.h"

// Last: cmocka.h defines macros (fail, ...) that clash with the standard library.
#include "cmocka_wrap.h"

namespace {

using nlohmann::json;

struct EcCoords {
  std::string x, y, d;  // base64url
};

std::string ExportBn(EVP_PKEY* pkey, const char* param) {
  BIGNUM* bn = nullptr;
  assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
  unsigned char buf[32];
  assert_int_equal(BN_bn2binpad(bn, buf, sizeof(buf)), 32);
  BN_clear_free(bn);
  return chat::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(buf), sizeof(buf)));
}

EcCoords NewEcKey() {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  assert_non_null(pkey);
  EcCoords c{ExportBn(pkey, OSSL_PKEY_PARAM_EC_PUB_X), ExportBn(pkey, OSSL_PKEY_PARAM_EC_PUB_Y),
             ExportBn(pkey, OSSL_PKEY_PARAM_PRIV_KEY)};
  EVP_PKEY_free(pkey);
  return c;
}

json EcJwk(const std::string& kid, const EcCoords& c) {
  return {{"kty", "EC"}, {"crv", "P-256"}, {"kid", kid}, {"x", c.x}, {"y", c.y}};
}

json OctJwk(const std::string& kid, size_t secret_bytes = 32) {
  std::string secret(secret_bytes, '\0');
  for (size_t i = 0; i < secret_bytes; ++i) secret[i] = static_cast<char>(i * 37 + 11);
  return {{"kty", "oct"}, {"kid", kid}, {"k", chat::Base64UrlEncode(secret)}};
}

std::string Doc(std::initializer_list<json> keys) { return json{{"keys", json(keys)}}.dump(); }

// Parses and expects success.
std::shared_ptr<const chat::KeySet> Parse(const std::string& doc) {
  std::shared_ptr<const chat::KeySet> set;
  chat::Status s = chat::KeySet::Parse(doc, &set);
  if (!s.ok()) fail_msg("rejected %s: %s", doc.c_str(), s.ToString().c_str());
  assert_non_null(set.get());
  return set;
}

// Parses and expects refusal, with *out untouched.
void ExpectRejected(const std::string& doc) {
  std::shared_ptr<const chat::KeySet> set;
  chat::Status s = chat::KeySet::Parse(doc, &set);
  if (s.ok()) fail_msg("accepted %s", doc.c_str());
  assert_int_equal(static_cast<int>(s.code()),
                   static_cast<int>(chat::Status::Code::kInvalidArgument));
  assert_false(s.message().empty());
  assert_null(set.get());
}

std::string Bytes(const std::string& b64) {
  std::string out;
  assert_true(chat::Base64UrlDecode(b64, &out));
  return out;
}

// A one-key document with member `name` of `jwk` set to `value`.
std::string WithMember(json jwk, const char* name, json value) {
  jwk[name] = std::move(value);
  return Doc({jwk});
}

// ---------------------------------------------------------------------------

void test_accepts_mixed_set(void**) {
  EcCoords a = NewEcKey(), b = NewEcKey();
  json ec_a = EcJwk("ec-a", a);
  ec_a["alg"] = "ES256";
  ec_a["use"] = "sig";
  json oct_a = OctJwk("hs-a");
  oct_a["alg"] = "HS256";
  oct_a["use"] = "sig";
  oct_a["key_ops"] = {"verify"};  // unknown members are ignored
  auto set = Parse(Doc({ec_a, EcJwk("ec-b", b), oct_a, OctJwk("hs-b", 16)}));
  assert_int_equal(set->size(), 4);
  assert_int_equal(static_cast<int>(set->Find("ec-a")->alg()),
                   static_cast<int>(chat::JwtAlg::kES256));
  assert_int_equal(static_cast<int>(set->Find("ec-b")->alg()),
                   static_cast<int>(chat::JwtAlg::kES256));
  assert_int_equal(static_cast<int>(set->Find("hs-a")->alg()),
                   static_cast<int>(chat::JwtAlg::kHS256));
  assert_int_equal(static_cast<int>(set->Find("hs-b")->alg()),
                   static_cast<int>(chat::JwtAlg::kHS256));
  assert_null(set->Find("nope"));
  assert_null(set->Find(""));
  assert_null(set->Find("EC-A"));
}

void test_accepts_private_jwks_ignoring_d(void**) {
  EcCoords a = NewEcKey();
  json jwk = EcJwk("ec-a", a);
  jwk["d"] = a.d;
  assert_int_equal(Parse(Doc({jwk}))->size(), 1);
}

// RFC 7515 A.1 (HS256) and A.3 (ES256): the keys verify the RFC's signatures.
constexpr char kRfcPayload[] =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlf"
    "Q";

void test_rfc7515_hs256_vector(void**) {
  auto set = Parse(Doc({{{"kty", "oct"},
                         {"kid", "rfc"},
                         {"k",
                          "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4"
                          "hcgUuTwjAzZr1Z9CAow"}}}));
  const chat::VerificationKey* key = set->Find("rfc");
  assert_non_null(key);
  std::string input = std::string("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.") + kRfcPayload;
  std::string sig = Bytes("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  assert_true(key->Verify(input, sig));
  assert_false(key->Verify(input + "x", sig));
  std::string bad = sig;
  bad[5] = static_cast<char>(bad[5] ^ 0x80);
  assert_false(key->Verify(input, bad));
  assert_false(key->Verify(input, sig.substr(0, 31)));
  assert_false(key->Verify(input, sig + sig));
  assert_false(key->Verify(input, ""));
}

void test_rfc7515_es256_vector(void**) {
  auto set = Parse(Doc({{{"kty", "EC"},
                         {"crv", "P-256"},
                         {"kid", "rfc"},
                         {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                         {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}}));
  const chat::VerificationKey* key = set->Find("rfc");
  assert_non_null(key);
  std::string input = std::string("eyJhbGciOiJFUzI1NiJ9.") + kRfcPayload;
  std::string sig = Bytes(
      "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q");
  assert_int_equal(sig.size(), 64);
  assert_true(key->Verify(input, sig));
  assert_false(key->Verify(input + "x", sig));
  std::string bad = sig;
  bad[10] = static_cast<char>(bad[10] ^ 0x01);
  assert_false(key->Verify(input, bad));
  bad = sig;
  bad[40] = static_cast<char>(bad[40] ^ 0x01);  // in s
  assert_false(key->Verify(input, bad));
  assert_false(key->Verify(input, sig.substr(0, 63)));
  assert_false(key->Verify(input, std::string(64, '\0')));
  assert_false(key->Verify(input, ""));
}

void test_rejects_not_json(void**) {
  for (const char* doc : {"", "nope", "{", "{\"keys\":[}", "{\"keys\":[]}}", "\xff"}) {
    ExpectRejected(doc);
  }
}

void test_rejects_no_keys_array(void**) {
  for (const char* doc : {"{}", "[]", "null", "42", "\"keys\"", "{\"keys\":{}}", "{\"keys\":\"x\"}",
                          "{\"keys\":null}", "{\"Keys\":[]}"}) {
    ExpectRejected(doc);
  }
  // The same keys as an array are fine.
  assert_int_equal(Parse(Doc({OctJwk("a")}))->size(), 1);
}

void test_rejects_set_without_usable_key(void**) {
  ExpectRejected("{\"keys\":[]}");
  json enc = OctJwk("a");
  enc["use"] = "enc";
  ExpectRejected(Doc({enc}));
}

void test_rejects_key_not_object(void**) {
  ExpectRejected(json{{"keys", {OctJwk("a"), "b"}}}.dump());
  ExpectRejected(json{{"keys", {OctJwk("a"), nullptr}}}.dump());
  ExpectRejected(json{{"keys", {OctJwk("a"), json::array()}}}.dump());
}

void test_rejects_duplicate_kid(void**) {
  EcCoords a = NewEcKey(), b = NewEcKey();
  ExpectRejected(Doc({OctJwk("k1"), OctJwk("k1", 20)}));
  ExpectRejected(Doc({EcJwk("k1", a), EcJwk("k1", b)}));
  ExpectRejected(Doc({EcJwk("k1", a), OctJwk("k1")}));
  // Distinct kids are fine.
  assert_int_equal(Parse(Doc({EcJwk("k1", a), OctJwk("k2")}))->size(), 2);
}

void test_rejects_missing_kid(void**) {
  EcCoords a = NewEcKey();
  for (json jwk : {OctJwk("x"), EcJwk("x", a)}) {
    json without = jwk;
    without.erase("kid");
    ExpectRejected(Doc({OctJwk("good"), without}));
    ExpectRejected(WithMember(jwk, "kid", ""));
    ExpectRejected(WithMember(jwk, "kid", 1));
    ExpectRejected(WithMember(jwk, "kid", nullptr));
  }
}

void test_rejects_ec_point_not_on_curve(void**) {
  EcCoords a = NewEcKey();
  assert_int_equal(Parse(Doc({EcJwk("ec", a)}))->size(), 1);
  // y with one bit flipped: for a given x only y and p - y are on the curve.
  std::string y = Bytes(a.y);
  y[31] = static_cast<char>(y[31] ^ 0x01);
  EcCoords off = a;
  off.y = chat::Base64UrlEncode(y);
  ExpectRejected(Doc({EcJwk("ec", off)}));
  // Swapped coordinates.
  EcCoords swapped{a.y, a.x, ""};
  ExpectRejected(Doc({EcJwk("ec", swapped)}));
  // (0, 0) and coordinates >= p.
  std::string zero = chat::Base64UrlEncode(std::string(32, '\0'));
  std::string ff = chat::Base64UrlEncode(std::string(32, '\xff'));
  ExpectRejected(Doc({EcJwk("ec", {zero, zero, ""})}));
  ExpectRejected(Doc({EcJwk("ec", {ff, a.y, ""})}));
  ExpectRejected(Doc({EcJwk("ec", {a.x, ff, ""})}));
}

void test_rejects_wrong_crv(void**) {
  EcCoords a = NewEcKey();
  json jwk = EcJwk("ec", a);
  for (json crv : {json("P-384"), json("P-521"), json("secp256k1"), json("p-256"), json("P256"),
                   json(256), json(nullptr)}) {
    ExpectRejected(WithMember(jwk, "crv", crv));
  }
  jwk.erase("crv");
  ExpectRejected(Doc({jwk}));
}

void test_rejects_bad_ec_coordinates(void**) {
  EcCoords a = NewEcKey();
  json jwk = EcJwk("ec", a);
  std::string x = Bytes(a.x);
  ExpectRejected(WithMember(jwk, "x", chat::Base64UrlEncode(x.substr(1))));  // 31 bytes
  ExpectRejected(WithMember(jwk, "x", chat::Base64UrlEncode(std::string(1, '\0') + x)));  // 33
  ExpectRejected(WithMember(jwk, "x", ""));
  ExpectRejected(WithMember(jwk, "y", 5));
  json no_y = jwk;
  no_y.erase("y");
  ExpectRejected(Doc({no_y}));
}

void test_rejects_short_oct_secret(void**) {
  ExpectRejected(Doc({OctJwk("hs", 15)}));
  ExpectRejected(Doc({OctJwk("hs", 1)}));
  ExpectRejected(Doc({OctJwk("hs", 0)}));
  assert_int_equal(Parse(Doc({OctJwk("hs", 16)}))->size(), 1);
  json no_k = OctJwk("hs");
  no_k.erase("k");
  ExpectRejected(Doc({no_k}));
  ExpectRejected(WithMember(OctJwk("hs"), "k", 12345));
}

void test_rejects_bad_base64url(void**) {
  json oct = OctJwk("hs");
  std::string k = oct["k"];
  ExpectRejected(WithMember(oct, "k", k + "="));
  ExpectRejected(WithMember(oct, "k", k.substr(0, 20) + "+" + k.substr(21)));
  ExpectRejected(WithMember(oct, "k", k.substr(0, 20) + "/" + k.substr(21)));
  ExpectRejected(WithMember(oct, "k", k.substr(0, 20) + " " + k.substr(21)));
  ExpectRejected(WithMember(oct, "k", k + "AA"));  // 45 characters: impossible length
  EcCoords a = NewEcKey();
  ExpectRejected(WithMember(EcJwk("ec", a), "x", a.x + "="));
  ExpectRejected(WithMember(EcJwk("ec", a), "y", a.y + "\n"));
}

void test_rejects_unsupported_kty(void**) {
  json rsa = {{"kty", "RSA"}, {"kid", "rsa"}, {"n", "AQAB"}, {"e", "AQAB"}};
  ExpectRejected(Doc({OctJwk("hs"), rsa}));
  ExpectRejected(WithMember(OctJwk("hs"), "kty", "OCT"));
  ExpectRejected(WithMember(OctJwk("hs"), "kty", "OKP"));
  ExpectRejected(WithMember(OctJwk("hs"), "kty", 1));
  json no_kty = OctJwk("hs");
  no_kty.erase("kty");
  ExpectRejected(Doc({no_kty}));
}

void test_rejects_alg_disagreeing_with_kty(void**) {
  EcCoords a = NewEcKey();
  ExpectRejected(WithMember(OctJwk("hs"), "alg", "ES256"));
  ExpectRejected(WithMember(OctJwk("hs"), "alg", "HS512"));
  ExpectRejected(WithMember(OctJwk("hs"), "alg", "none"));
  ExpectRejected(WithMember(OctJwk("hs"), "alg", 256));
  ExpectRejected(WithMember(EcJwk("ec", a), "alg", "HS256"));
  ExpectRejected(WithMember(EcJwk("ec", a), "alg", "ES384"));
  assert_int_equal(Parse(WithMember(OctJwk("hs"), "alg", "HS256"))->size(), 1);
  assert_int_equal(Parse(WithMember(EcJwk("ec", a), "alg", "ES256"))->size(), 1);
}

void test_skips_keys_not_for_signing(void**) {
  json enc = {{"kty", "RSA"}, {"use", "enc"}, {"n", "AQAB"}, {"e", "AQAB"}};  // not ours, no kid
  json oct_enc = OctJwk("hs-enc");
  oct_enc["use"] = "enc";
  auto set = Parse(Doc({OctJwk("hs"), enc, oct_enc}));
  assert_int_equal(set->size(), 1);
  assert_null(set->Find("hs-enc"));
  // A "use" that is not a string is an error, not a skip.
  ExpectRejected(WithMember(OctJwk("hs"), "use", 1));
}

void test_all_or_nothing(void**) {
  EcCoords a = NewEcKey();
  auto before = Parse(Doc({OctJwk("old")}));
  std::shared_ptr<const chat::KeySet> out = before;
  // Three good keys and one short secret: the whole document is refused.
  chat::Status s = chat::KeySet::Parse(
      Doc({OctJwk("hs1"), EcJwk("ec1", a), OctJwk("hs2"), OctJwk("bad", 8)}), &out);
  assert_false(s.ok());
  assert_ptr_equal(out.get(), before.get());
  assert_non_null(out->Find("old"));
  // The message says which key.
  assert_non_null(strstr(s.message().c_str(), "bad"));
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepts_mixed_set),
      cmocka_unit_test(test_accepts_private_jwks_ignoring_d),
      cmocka_unit_test(test_rfc7515_hs256_vector),
      cmocka_unit_test(test_rfc7515_es256_vector),
      cmocka_unit_test(test_rejects_not_json),
      cmocka_unit_test(test_rejects_no_keys_array),
      cmocka_unit_test(test_rejects_set_without_usable_key),
      cmocka_unit_test(test_rejects_key_not_object),
      cmocka_unit_test(test_rejects_duplicate_kid),
      cmocka_unit_test(test_rejects_missing_kid),
      cmocka_unit_test(test_rejects_ec_point_not_on_curve),
      cmocka_unit_test(test_rejects_wrong_crv),
      cmocka_unit_test(test_rejects_bad_ec_coordinates),
      cmocka_unit_test(test_rejects_short_oct_secret),
      cmocka_unit_test(test_rejects_bad_base64url),
      cmocka_unit_test(test_rejects_unsupported_kty),
      cmocka_unit_test(test_rejects_alg_disagreeing_with_kty),
      cmocka_unit_test(test_skips_keys_not_for_signing),
      cmocka_unit_test(test_all_or_nothing),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
