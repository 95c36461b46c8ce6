// IsValidId: spec section 2, ids are 1 to 64 characters from [A-Za-z0-9_.-].
#include <string>
#include <string_view>

#include "chat/ids.h"
#include "cmocka_wrap.h"

namespace {

using chat::IsValidId;

void test_length_edges(void**) {
  assert_false(IsValidId(""));
  assert_false(IsValidId(std::string_view()));
  assert_true(IsValidId("a"));
  assert_true(IsValidId(std::string(63, 'x')));
  assert_true(IsValidId(std::string(64, 'x')));
  assert_int_equal(chat::kMaxIdLength, 64);
  assert_false(IsValidId(std::string(65, 'x')));
  assert_false(IsValidId(std::string(1000, 'x')));
}

void test_every_allowed_character(void**) {
  std::string all;
  for (char c = 'a'; c <= 'z'; ++c) all.push_back(c);
  for (char c = 'A'; c <= 'Z'; ++c) all.push_back(c);
  for (char c = '0'; c <= '9'; ++c) all.push_back(c);
  all += "_.-";
  assert_int_equal(all.size(), 65);
  // Each one alone, and each class as a whole.
  for (char c : all) assert_true(IsValidId(std::string(1, c)));
  assert_true(IsValidId("abcdefghijklmnopqrstuvwxyz"));
  assert_true(IsValidId("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
  assert_true(IsValidId("0123456789"));
  assert_true(IsValidId("_.-"));
  assert_true(IsValidId("alice.Smith-01_x"));
  assert_true(IsValidId(all.substr(0, 64)));
  assert_true(IsValidId(all.substr(1, 64)));
}

void test_every_other_byte_refused(void**) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                         c == '.' || c == '-';
    std::string alone(1, c);
    std::string middle = std::string("ab") + c + "cd";
    assert_int_equal(IsValidId(alone), allowed);
    assert_int_equal(IsValidId(middle), allowed);
  }
}

void test_named_refusals(void**) {
  assert_false(IsValidId("a/b"));
  assert_false(IsValidId("/"));
  assert_false(IsValidId("a+"));
  assert_false(IsValidId("+"));
  assert_false(IsValidId("#"));
  assert_false(IsValidId("a#"));
  assert_false(IsValidId("a b"));
  assert_false(IsValidId(" a"));
  assert_false(IsValidId("a "));
  assert_false(IsValidId("$SYS"));
  assert_false(IsValidId("a$"));
  assert_false(IsValidId("caf\xc3\xa9"));      // UTF-8 e-acute
  assert_false(IsValidId("\xe2\x82\xac"));     // UTF-8 euro sign
  assert_false(IsValidId("a\xff"));
  assert_false(IsValidId("a\tb"));
  assert_false(IsValidId("a\nb"));
  // A NUL inside the view is a character of the id, and not an allowed one.
  assert_false(IsValidId(std::string_view("ab\0cd", 5)));
  assert_false(IsValidId(std::string_view("\0", 1)));
  assert_false(IsValidId(std::string_view("abc\0", 4)));
  // 64 good characters plus a bad one is still refused on the character.
  assert_false(IsValidId(std::string(63, 'a') + "/"));
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_length_edges),
      cmocka_unit_test(test_every_allowed_character),
      cmocka_unit_test(test_every_other_byte_refused),
      cmocka_unit_test(test_named_refusals),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
