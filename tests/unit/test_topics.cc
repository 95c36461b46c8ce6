// TopicScheme: topic names of spec section 3 and SUBSCRIBE filter scopes.
#include <string>
#include <string_view>

#include "chat/topics.h"
#include "cmocka_wrap.h"

namespace {

using chat::TopicKind;
using chat::TopicRef;
using chat::TopicScheme;
using Scope = chat::TopicScheme::FilterRef::Scope;

void ExpectTopic(const TopicScheme& scheme, std::string_view topic, TopicKind kind, std::string_view id) {
  TopicRef r = scheme.Parse(topic);
  // The id is only meaningful for the valid kinds.
  const bool check_id = kind != TopicKind::kChatInvalid && kind != TopicKind::kPresenceInvalid &&
                        kind != TopicKind::kAdminInvalid;
  if (r.kind != kind || (check_id && r.id != id)) {
    fail_msg("Parse(\"%.*s\"): kind %d id \"%.*s\", expected kind %d id \"%.*s\"", static_cast<int>(topic.size()),
             topic.data(), static_cast<int>(r.kind), static_cast<int>(r.id.size()), r.id.data(),
             static_cast<int>(kind), static_cast<int>(id.size()), id.data());
  }
}

void ExpectFilter(const TopicScheme& scheme, std::string_view filter, Scope scope, std::string_view id) {
  TopicScheme::FilterRef f = scheme.ParseFilter(filter);
  if (f.scope != scope || f.id != id) {
    fail_msg("ParseFilter(\"%.*s\"): scope %d id \"%.*s\", expected scope %d id \"%.*s\"",
             static_cast<int>(filter.size()), filter.data(), static_cast<int>(f.scope), static_cast<int>(f.id.size()),
             f.id.data(), static_cast<int>(scope), static_cast<int>(id.size()), id.data());
  }
}

void test_chat_leaves(void**) {
  TopicScheme s("chat");
  ExpectTopic(s, "chat/room1/msg", TopicKind::kChatMsg, "room1");
  ExpectTopic(s, "chat/room1/receipt", TopicKind::kChatReceipt, "room1");
  ExpectTopic(s, "chat/room1/typing", TopicKind::kChatTyping, "room1");
  ExpectTopic(s, "chat/room1/sync", TopicKind::kChatSync, "room1");
  ExpectTopic(s, "chat/room1/error", TopicKind::kChatError, "room1");
  ExpectTopic(s, "chat/A.b_c-9/msg", TopicKind::kChatMsg, "A.b_c-9");
  ExpectTopic(s, "chat/" + std::string(64, 'c') + "/msg", TopicKind::kChatMsg, std::string(64, 'c'));
  // The id is a view into the input.
  std::string topic = "chat/xyz/msg";
  TopicRef r = s.Parse(topic);
  assert_ptr_equal(r.id.data(), topic.data() + 5);
}

void test_chat_invalid(void**) {
  TopicScheme s("chat");
  ExpectTopic(s, "chat/room1/bogus", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/room1/Msg", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/room1/", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/room1/msg/extra", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/room1/msg/", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/room1", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat//msg", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/bad$id/msg", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/bad id/msg", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/" + std::string(65, 'c') + "/msg", TopicKind::kChatInvalid, "");
  assert_true(chat::IsChatKind(TopicKind::kChatInvalid));
}

void test_is_chat_kind(void**) {
  assert_true(chat::IsChatKind(TopicKind::kChatMsg));
  assert_true(chat::IsChatKind(TopicKind::kChatReceipt));
  assert_true(chat::IsChatKind(TopicKind::kChatTyping));
  assert_true(chat::IsChatKind(TopicKind::kChatSync));
  assert_true(chat::IsChatKind(TopicKind::kChatError));
  assert_false(chat::IsChatKind(TopicKind::kOther));
  assert_false(chat::IsChatKind(TopicKind::kPresence));
  assert_false(chat::IsChatKind(TopicKind::kPresenceInvalid));
  assert_false(chat::IsChatKind(TopicKind::kAdminChannel));
  assert_false(chat::IsChatKind(TopicKind::kAdminError));
  assert_false(chat::IsChatKind(TopicKind::kAdminInvalid));
}

void test_presence(void**) {
  TopicScheme s("chat");
  ExpectTopic(s, "presence/alice", TopicKind::kPresence, "alice");
  ExpectTopic(s, "presence/a/b", TopicKind::kPresenceInvalid, "");
  ExpectTopic(s, "presence/alice/", TopicKind::kPresenceInvalid, "");
  ExpectTopic(s, "presence/", TopicKind::kPresenceInvalid, "");
  ExpectTopic(s, "presence", TopicKind::kPresenceInvalid, "");
  ExpectTopic(s, "presence/al ice", TopicKind::kPresenceInvalid, "");
  ExpectTopic(s, "presence/" + std::string(65, 'u'), TopicKind::kPresenceInvalid, "");
  assert_string_equal(TopicScheme::PresenceTopic("alice").c_str(), "presence/alice");
}

void test_admin(void**) {
  TopicScheme s("chat");
  ExpectTopic(s, "$chat/admin/channels/room1", TopicKind::kAdminChannel, "room1");
  ExpectTopic(s, "$chat/admin/error", TopicKind::kAdminError, "");
  ExpectTopic(s, "$chat/admin/channels/room1/x", TopicKind::kAdminInvalid, "");
  ExpectTopic(s, "$chat/admin/channels/bad$id", TopicKind::kAdminInvalid, "");
  ExpectTopic(s, "$chat/admin/channels/", TopicKind::kAdminInvalid, "");
  ExpectTopic(s, "$chat/admin/channels", TopicKind::kAdminInvalid, "");
  ExpectTopic(s, "$chat/admin/error/x", TopicKind::kAdminInvalid, "");
  ExpectTopic(s, "$chat/admin/other", TopicKind::kAdminInvalid, "");
  ExpectTopic(s, "$chat/admin", TopicKind::kAdminInvalid, "");
  ExpectTopic(s, "$chat/other/channels/room1", TopicKind::kAdminInvalid, "");
  ExpectTopic(s, "$chat", TopicKind::kAdminInvalid, "");
  ExpectTopic(s, "$chat/", TopicKind::kAdminInvalid, "");
  assert_string_equal(TopicScheme::AdminChannelTopic("room1").c_str(), "$chat/admin/channels/room1");
  assert_true(TopicScheme::kAdminErrorTopic == "$chat/admin/error");
  assert_true(TopicScheme::kAdminChannelsFilter == "$chat/admin/channels/+");
}

void test_other_topics(void**) {
  TopicScheme s("chat");
  ExpectTopic(s, "sensors/temp", TopicKind::kOther, "");
  ExpectTopic(s, "chatter/room1/msg", TopicKind::kOther, "");
  ExpectTopic(s, "Chat/room1/msg", TopicKind::kOther, "");
  ExpectTopic(s, "presences/alice", TopicKind::kOther, "");
  ExpectTopic(s, "$SYS/broker/uptime", TopicKind::kOther, "");
  ExpectTopic(s, "$CONTROL/chat/v1", TopicKind::kOther, "");
  ExpectTopic(s, "/chat/room1/msg", TopicKind::kOther, "");
  ExpectTopic(s, "talk/room1/msg", TopicKind::kOther, "");
  ExpectTopic(s, "", TopicKind::kOther, "");
}

void test_custom_prefix(void**) {
  TopicScheme s("talk");
  assert_string_equal(s.prefix().c_str(), "talk");
  ExpectTopic(s, "talk/room1/msg", TopicKind::kChatMsg, "room1");
  ExpectTopic(s, "talk/room1/receipt", TopicKind::kChatReceipt, "room1");
  ExpectTopic(s, "talk/room1/typing", TopicKind::kChatTyping, "room1");
  ExpectTopic(s, "talk/room1/sync", TopicKind::kChatSync, "room1");
  ExpectTopic(s, "talk/room1/error", TopicKind::kChatError, "room1");
  ExpectTopic(s, "talk/room1/bogus", TopicKind::kChatInvalid, "");
  ExpectTopic(s, "chat/room1/msg", TopicKind::kOther, "");
  // presence and $chat do not move with the prefix.
  ExpectTopic(s, "presence/alice", TopicKind::kPresence, "alice");
  ExpectTopic(s, "$chat/admin/channels/room1", TopicKind::kAdminChannel, "room1");
  assert_string_equal(s.ChatTopic("room1", "error").c_str(), "talk/room1/error");
  ExpectFilter(s, "talk/+/msg", Scope::kChatMany, "");
  ExpectFilter(s, "talk/room1/#", Scope::kChatOne, "room1");
  ExpectFilter(s, "chat/+/msg", Scope::kOther, "");
}

void test_chat_topic_builder(void**) {
  TopicScheme s("chat");
  assert_string_equal(s.ChatTopic("room1", "msg").c_str(), "chat/room1/msg");
  assert_string_equal(s.ChatTopic("r", "error").c_str(), "chat/r/error");
}

void test_filters(void**) {
  TopicScheme s("chat");
  ExpectFilter(s, "+", Scope::kBroad, "");
  ExpectFilter(s, "#", Scope::kBroad, "");
  ExpectFilter(s, "+/+/msg", Scope::kBroad, "");
  ExpectFilter(s, "+/room1/#", Scope::kBroad, "");
  ExpectFilter(s, "chat/+/msg", Scope::kChatMany, "");
  ExpectFilter(s, "chat/+/#", Scope::kChatMany, "");
  ExpectFilter(s, "chat/#", Scope::kChatMany, "");
  ExpectFilter(s, "chat/ch/#", Scope::kChatOne, "ch");
  ExpectFilter(s, "chat/ch/+", Scope::kChatOne, "ch");
  ExpectFilter(s, "chat/ch/msg", Scope::kChatOne, "ch");
  ExpectFilter(s, "chat/ch/receipt", Scope::kChatOne, "ch");
  ExpectFilter(s, "chat/ch/typing", Scope::kChatOne, "ch");
  ExpectFilter(s, "chat/ch/sync", Scope::kChatOne, "ch");
  ExpectFilter(s, "chat/ch/error", Scope::kChatOne, "ch");
  ExpectFilter(s, "chat/ch/bogus", Scope::kInvalid, "");
  ExpectFilter(s, "chat/ch/msg/x", Scope::kInvalid, "");
  ExpectFilter(s, "chat/ch/+/+", Scope::kInvalid, "");
  ExpectFilter(s, "chat/ch/#/x", Scope::kInvalid, "");
  ExpectFilter(s, "chat/ch", Scope::kInvalid, "");
  ExpectFilter(s, "chat", Scope::kInvalid, "");
  ExpectFilter(s, "chat/bad$id/msg", Scope::kInvalid, "");
  ExpectFilter(s, "chat/bad$id/#", Scope::kInvalid, "");
  ExpectFilter(s, "chat//msg", Scope::kInvalid, "");
  ExpectFilter(s, "presence/#", Scope::kPresence, "");
  ExpectFilter(s, "presence/+", Scope::kPresence, "");
  ExpectFilter(s, "presence/alice", Scope::kPresence, "");
  ExpectFilter(s, "$chat/#", Scope::kAdmin, "");
  ExpectFilter(s, "$chat/admin/channels/+", Scope::kAdmin, "");
  ExpectFilter(s, "$chat/admin/error", Scope::kAdmin, "");
  ExpectFilter(s, "$SYS/#", Scope::kOther, "");
  ExpectFilter(s, "$CONTROL/chat/v1/response", Scope::kOther, "");
  ExpectFilter(s, "other/topic", Scope::kOther, "");
  ExpectFilter(s, "other/#", Scope::kOther, "");
  ExpectFilter(s, "chatter/#", Scope::kOther, "");
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chat_leaves),   cmocka_unit_test(test_chat_invalid), cmocka_unit_test(test_is_chat_kind),
      cmocka_unit_test(test_presence),      cmocka_unit_test(test_admin),        cmocka_unit_test(test_other_topics),
      cmocka_unit_test(test_custom_prefix), cmocka_unit_test(test_chat_topic_builder), cmocka_unit_test(test_filters),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
