// Base64url without padding: RFC 4648 vectors, round trips, strict rejects.
#include <string>
#include <vector>

#include "chat/base64url.h"

// Last: cmocka.h defines macros (fail, ...) that clash with the standard library.
#include "cmocka_wrap.h"

namespace {

void test_rfc4648_vectors(void**) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},
      {"f", "Zg"},
      {"fo", "Zm8"},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"},
      {std::string("\xfb\xff", 2), "-_8"},  // the two url-safe characters
      {std::string("\x00\x00\x00", 3), "AAAA"},
      {std::string("\xff\xff\xff", 3), "____"},
  };
  for (const auto& [bytes, text] : vectors) {
    assert_string_equal(chat::Base64UrlEncode(bytes).c_str(), text.c_str());
    std::string out = "junk";
    assert_true(chat::Base64UrlDecode(text, &out));
    assert_int_equal(out.size(), bytes.size());
    assert_memory_equal(out.data(), bytes.data(), bytes.size());
  }
}

void test_round_trip_all_lengths_and_bytes(void**) {
  for (size_t len = 0; len < 300; ++len) {
    std::string bytes(len, '\0');
    for (size_t i = 0; i < len; ++i) bytes[i] = static_cast<char>((i * 131 + len * 7) & 0xff);
    std::string text = chat::Base64UrlEncode(bytes);
    assert_int_equal(text.size(), (len * 4 + 2) / 3);  // no padding
    assert_true(text.find_first_of("+/=") == std::string::npos);
    std::string back;
    assert_true(chat::Base64UrlDecode(text, &back));
    assert_true(back == bytes);
  }
}

void test_rejects_padding_and_foreign_characters(void**) {
  for (std::string bad : {
           std::string("Zg=="), std::string("Zg="), std::string("Zm8="), std::string("===="),
           std::string("Zm9v+A"), std::string("Zm9v/A"),  // standard alphabet
           std::string("Zm9 v"), std::string(" Zm9v"), std::string("Zm9v\n"), std::string("Zm\t9v"),
           std::string("Zm9v.A"), std::string("Zm9v*A"), std::string("Zm\xc3\xa9v"),
           std::string("Zm9v\0A", 6),  // embedded NUL
       }) {
    std::string out = "unchanged";
    if (chat::Base64UrlDecode(bad, &out)) fail_msg("accepted '%s'", bad.c_str());
    assert_string_equal(out.c_str(), "unchanged");
  }
}

void test_rejects_impossible_length(void**) {
  std::string out;
  // len % 4 == 1 is produced by no input.
  for (const char* bad : {"A", "AAAAA", "Zm9vY", "Zm9vYmFyZ"}) {
    if (chat::Base64UrlDecode(bad, &out)) fail_msg("accepted '%s'", bad);
  }
  // The neighbours are fine.
  assert_true(chat::Base64UrlDecode("AA", &out));
  assert_true(chat::Base64UrlDecode("AAAA", &out));
}

void test_rejects_non_canonical_trailing_bits(void**) {
  std::string out;
  // "Zg" is "f"; "Zh" carries the same byte with a stray low bit set.
  assert_true(chat::Base64UrlDecode("Zg", &out));
  assert_false(chat::Base64UrlDecode("Zh", &out));
  assert_false(chat::Base64UrlDecode("Z_", &out));
  // "Zm8" is "fo"; "Zm9" sets a stray bit.
  assert_true(chat::Base64UrlDecode("Zm8", &out));
  assert_false(chat::Base64UrlDecode("Zm9", &out));
  // Exhaustively: after one byte the last character has 4 unused bits,
  // after two bytes 2; any of them set means refusal.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t v = 0; v < 64; ++v) {
    assert_int_equal(chat::Base64UrlDecode("Z" + alphabet.substr(v, 1), &out), v % 16 == 0);
    assert_int_equal(chat::Base64UrlDecode("Zm" + alphabet.substr(v, 1), &out), v % 4 == 0);
  }
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc4648_vectors),
      cmocka_unit_test(test_round_trip_all_lengths_and_bytes),
      cmocka_unit_test(test_rejects_padding_and_foreign_characters),
      cmocka_unit_test(test_rejects_impossible_length),
      cmocka_unit_test(test_rejects_non_canonical_trailing_bits),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
