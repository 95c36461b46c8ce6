// ParseChannelDocument / ToChannelDocument: the channel documents of spec section 6.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "chat/channel_config.h"
#include "cmocka_wrap.h"

namespace {

using chat::ChannelConfig;
using chat::ChannelDocLimits;
using chat::ChannelType;
using chat::ParseChannelDocument;
using chat::Status;
using nlohmann::json;

ChannelConfig MustParse(std::string_view doc, std::string_view id = "room1", ChannelDocLimits limits = {}) {
  ChannelConfig c;
  Status s = ParseChannelDocument(id, doc, limits, &c);
  if (!s.ok()) fail_msg("refused %.*s: %s", static_cast<int>(doc.size()), doc.data(), s.ToString().c_str());
  return c;
}

// Refused, *out untouched, and the message names `field` (when given).
void ExpectRefused(std::string_view doc, std::string_view field, std::string_view id = "room1",
                   ChannelDocLimits limits = {}) {
  ChannelConfig c;
  c.id = "untouched";
  Status s = ParseChannelDocument(id, doc, limits, &c);
  if (s.ok()) fail_msg("accepted %.*s", static_cast<int>(doc.size()), doc.data());
  assert_int_equal(s.code(), Status::Code::kInvalidArgument);
  if (s.message().find(field) == std::string::npos) {
    fail_msg("message '%s' does not name '%.*s'", s.message().c_str(), static_cast<int>(field.size()), field.data());
  }
  assert_string_equal(c.id.c_str(), "untouched");
}

void ExpectMembers(const ChannelConfig& c, const std::vector<std::string>& want) {
  assert_int_equal(c.members.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) assert_string_equal(c.members[i].c_str(), want[i].c_str());
}

void test_group_minimal(void**) {
  ChannelConfig c = MustParse(R"({"type":"group","members":["bob"]})");
  assert_string_equal(c.id.c_str(), "room1");
  assert_int_equal(c.type, ChannelType::kGroup);
  ExpectMembers(c, {"bob"});
  assert_false(c.history_max.has_value());
  assert_false(c.history_max_age_s.has_value());
  assert_true(c.receipts);
  assert_true(c.typing);
}

void test_members_dedup_sorted(void**) {
  ChannelConfig c = MustParse(R"({"type":"group","members":["carol","alice","bob","alice","carol","Bob"]})");
  ExpectMembers(c, {"Bob", "alice", "bob", "carol"});
}

void test_member_rules(void**) {
  ExpectRefused(R"({"type":"group","members":"alice"})", "members");
  ExpectRefused(R"({"type":"group","members":{"a":1}})", "members");
  ExpectRefused(R"({"type":"group","members":["alice",7]})", "members");
  ExpectRefused(R"({"type":"group","members":["alice",null]})", "members");
  ExpectRefused(R"({"type":"group","members":["al ice"]})", "members");
  ExpectRefused(R"({"type":"group","members":[""]})", "members");
  ExpectRefused(R"({"type":"group","members":["a/b"]})", "members");
  ExpectRefused(R"({"type":"group","members":[")" + std::string(65, 'm') + R"("]})", "members");
  MustParse(R"({"type":"group","members":[")" + std::string(64, 'm') + R"("]})");
}

void test_direct(void**) {
  ChannelConfig c = MustParse(R"({"type":"direct","members":["zed","amy"]})");
  assert_int_equal(c.type, ChannelType::kDirect);
  ExpectMembers(c, {"amy", "zed"});
  // Duplicates are removed before counting.
  c = MustParse(R"({"type":"direct","members":["zed","amy","zed"]})");
  ExpectMembers(c, {"amy", "zed"});
  ExpectRefused(R"({"type":"direct","members":["amy","amy"]})", "direct");
  ExpectRefused(R"({"type":"direct","members":["amy"]})", "direct");
  ExpectRefused(R"({"type":"direct","members":[]})", "direct");
  ExpectRefused(R"({"type":"direct"})", "direct");
  ExpectRefused(R"({"type":"direct","members":["a","b","c"]})", "direct");
}

void test_group_needs_a_member(void**) {
  ExpectRefused(R"({"type":"group","members":[]})", "group");
  ExpectRefused(R"({"type":"group"})", "group");
  MustParse(R"({"type":"group","members":["solo"]})");
}

void test_open(void**) {
  ChannelConfig c = MustParse(R"({"type":"open"})");
  assert_int_equal(c.type, ChannelType::kOpen);
  assert_true(c.members.empty());
  c = MustParse(R"({"type":"open","members":[]})");
  assert_true(c.members.empty());
  c = MustParse(R"({"type":"open","members":["b","a"]})");
  ExpectMembers(c, {"a", "b"});
}

void test_type(void**) {
  ExpectRefused(R"({"members":["a"]})", "type");
  ExpectRefused(R"({"type":"Group","members":["a"]})", "type");
  ExpectRefused(R"({"type":"private","members":["a"]})", "type");
  ExpectRefused(R"({"type":1,"members":["a"]})", "type");
  ExpectRefused(R"({"type":null,"members":["a"]})", "type");
  ExpectRefused(R"({"type":["group"],"members":["a"]})", "type");
}

void test_history(void**) {
  ChannelConfig c = MustParse(R"({"type":"open","history":{"max":10,"max_age_s":3600}})");
  assert_true(c.history_max.has_value());
  assert_int_equal(*c.history_max, 10);
  assert_true(c.history_max_age_s.has_value());
  assert_int_equal(*c.history_max_age_s, 3600);
  c = MustParse(R"({"type":"open","history":{"max":0,"max_age_s":0}})");
  assert_int_equal(*c.history_max, 0);
  assert_int_equal(*c.history_max_age_s, 0);
  c = MustParse(R"({"type":"open","history":{}})");
  assert_false(c.history_max.has_value());
  assert_false(c.history_max_age_s.has_value());
  c = MustParse(R"({"type":"open","history":{"max":5}})");
  assert_int_equal(*c.history_max, 5);
  assert_false(c.history_max_age_s.has_value());
  c = MustParse(R"({"type":"open","history":{"max_age_s":9223372036854775807}})");
  assert_int_equal(*c.history_max_age_s, INT64_MAX);

  ExpectRefused(R"({"type":"open","history":{"max":-1}})", "history.max");
  ExpectRefused(R"({"type":"open","history":{"max":1.5}})", "history.max");
  ExpectRefused(R"({"type":"open","history":{"max":"10"}})", "history.max");
  ExpectRefused(R"({"type":"open","history":{"max":null}})", "history.max");
  ExpectRefused(R"({"type":"open","history":{"max":true}})", "history.max");
  ExpectRefused(R"({"type":"open","history":{"max":18446744073709551615}})", "history.max");
  ExpectRefused(R"({"type":"open","history":{"max_age_s":-5}})", "history.max_age_s");
  ExpectRefused(R"({"type":"open","history":{"max_age_s":2.0}})", "history.max_age_s");
  ExpectRefused(R"({"type":"open","history":{"max_age_s":9223372036854775808}})", "history.max_age_s");
  ExpectRefused(R"({"type":"open","history":{"max":1,"x":2}})", "history.x");
  ExpectRefused(R"({"type":"open","history":{"Max":1}})", "history.Max");
  ExpectRefused(R"({"type":"open","history":[1,2]})", "history");
  ExpectRefused(R"({"type":"open","history":10})", "history");
  ExpectRefused(R"({"type":"open","history":null})", "history");
}

void test_booleans(void**) {
  ChannelConfig c = MustParse(R"({"type":"open","receipts":false,"typing":false})");
  assert_false(c.receipts);
  assert_false(c.typing);
  c = MustParse(R"({"type":"open","receipts":true,"typing":false})");
  assert_true(c.receipts);
  assert_false(c.typing);
  c = MustParse(R"({"type":"open","receipts":false})");
  assert_false(c.receipts);
  assert_true(c.typing);
  ExpectRefused(R"({"type":"open","receipts":1})", "receipts");
  ExpectRefused(R"({"type":"open","receipts":"true"})", "receipts");
  ExpectRefused(R"({"type":"open","receipts":null})", "receipts");
  ExpectRefused(R"({"type":"open","typing":0})", "typing");
  ExpectRefused(R"({"type":"open","typing":"false"})", "typing");
}

void test_unknown_fields(void**) {
  ExpectRefused(R"({"type":"open","member":["a"]})", "member");
  ExpectRefused(R"({"type":"open","name":"x"})", "name");
  ExpectRefused(R"({"type":"open","Type":"open"})", "Type");
  ExpectRefused(R"({"type":"open","":1})", "unknown field");
}

void test_not_an_object(void**) {
  ExpectRefused("[]", "object");
  ExpectRefused(R"(["type","open"])", "object");
  ExpectRefused(R"("open")", "object");
  ExpectRefused("42", "object");
  ExpectRefused("null", "object");
  ExpectRefused("true", "object");
}

void test_invalid_json(void**) {
  ExpectRefused("", "JSON");
  ExpectRefused("{", "JSON");
  ExpectRefused(R"({"type":"open",})", "JSON");
  ExpectRefused(R"({'type':'open'})", "JSON");
  ExpectRefused(R"({"type":"open"} x)", "JSON");
  ExpectRefused(R"({"type":"open"}{})", "JSON");
  ExpectRefused("\xff\xfe", "JSON");
}

void test_channel_id(void**) {
  ExpectRefused(R"({"type":"open"})", "channel id", "");
  ExpectRefused(R"({"type":"open"})", "channel id", "bad$id");
  ExpectRefused(R"({"type":"open"})", "channel id", std::string(65, 'c'));
  assert_string_equal(MustParse(R"({"type":"open"})", std::string(64, 'c')).id.c_str(), std::string(64, 'c').c_str());
}

void test_max_members(void**) {
  ChannelDocLimits limits;
  limits.max_members = 3;
  MustParse(R"({"type":"group","members":["a","b","c"]})", "room1", limits);
  ExpectRefused(R"({"type":"group","members":["a","b","c","d"]})", "members", "room1", limits);
  // The limit counts entries as listed, duplicates included.
  ExpectRefused(R"({"type":"group","members":["a","a","a","a"]})", "members", "room1", limits);
  // The default allows 100000.
  json doc = {{"type", "group"}, {"members", json::array()}};
  for (int i = 0; i < 100000; ++i) doc["members"].push_back("u" + std::to_string(i));
  ChannelConfig c = MustParse(doc.dump());
  assert_int_equal(c.members.size(), 100000);
  doc["members"].push_back("one_more");
  ExpectRefused(doc.dump(), "members");
}

void test_round_trip(void**) {
  const char* docs[] = {
      R"({"type":"group","members":["c","a","b","a"]})",
      R"({"type":"direct","members":["y","x"],"receipts":false})",
      R"({"type":"open"})",
      R"({"type":"open","members":["m"],"history":{"max":0},"typing":false})",
      R"({"type":"group","members":["a"],"history":{"max":7,"max_age_s":60},"receipts":false,"typing":false})",
      R"({"type":"group","members":["a"],"history":{"max_age_s":0}})",
  };
  for (const char* d : docs) {
    ChannelConfig c = MustParse(d);
    std::string normal = chat::ToChannelDocument(c);
    ChannelConfig again = MustParse(normal);
    assert_true(again == c);
    // Normalised: the same document again gives the same bytes.
    assert_string_equal(chat::ToChannelDocument(again).c_str(), normal.c_str());
    json j = json::parse(normal);
    assert_true(j.is_object());
    assert_string_equal(j["type"].get<std::string>().c_str(), chat::ChannelTypeName(c.type));
    assert_true(j["members"].is_array());
    assert_true(j["receipts"].is_boolean());
    assert_true(j["typing"].is_boolean());
    assert_int_equal(j.contains("history"), c.history_max.has_value() || c.history_max_age_s.has_value());
  }
  // A config built in code also round-trips.
  ChannelConfig c;
  c.id = "room1";
  c.type = ChannelType::kDirect;
  c.members = {"a", "b"};
  c.history_max = 3;
  c.history_max_age_s = 4;
  c.receipts = false;
  assert_true(MustParse(chat::ToChannelDocument(c)) == c);
  json j = json::parse(chat::ToChannelDocument(c));
  assert_true(j == json::parse(
                       R"({"type":"direct","members":["a","b"],"history":{"max":3,"max_age_s":4},"receipts":false,"typing":true})"));
}

void test_type_names(void**) {
  assert_string_equal(chat::ChannelTypeName(ChannelType::kDirect), "direct");
  assert_string_equal(chat::ChannelTypeName(ChannelType::kGroup), "group");
  assert_string_equal(chat::ChannelTypeName(ChannelType::kOpen), "open");
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_group_minimal),
      cmocka_unit_test(test_members_dedup_sorted),
      cmocka_unit_test(test_member_rules),
      cmocka_unit_test(test_direct),
      cmocka_unit_test(test_group_needs_a_member),
      cmocka_unit_test(test_open),
      cmocka_unit_test(test_type),
      cmocka_unit_test(test_history),
      cmocka_unit_test(test_booleans),
      cmocka_unit_test(test_unknown_fields),
      cmocka_unit_test(test_not_an_object),
      cmocka_unit_test(test_invalid_json),
      cmocka_unit_test(test_channel_id),
      cmocka_unit_test(test_max_members),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_type_names),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
