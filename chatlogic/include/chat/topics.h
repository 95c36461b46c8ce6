// Topic names of spec section 3, under a configurable prefix.
//
//   <prefix>/<ch>/{msg,receipt,typing,sync,error}
//   presence/<user>
//   $chat/admin/channels/<ch>, $chat/admin/error
//
// ParseTopic is on the READ ACL path (once per subscriber per message): it
// allocates nothing and returns views into its input.
#pragma once

#include <string>
#include <string_view>

namespace chat {

enum class TopicKind {
  kOther,          // outside every chat namespace: an ordinary MQTT topic
  kChatMsg,
  kChatReceipt,
  kChatTyping,
  kChatSync,
  kChatError,
  kChatInvalid,    // under the prefix but not one of the above (bad id, unknown leaf, extra levels)
  kPresence,       // presence/<user>
  kPresenceInvalid,
  kAdminChannel,   // $chat/admin/channels/<ch>
  kAdminError,     // $chat/admin/error
  kAdminInvalid,   // anything else under $chat/
};

struct TopicRef {
  TopicKind kind = TopicKind::kOther;
  std::string_view id;  // channel id (chat, admin channel) or user id (presence)
};

bool IsChatKind(TopicKind k);

class TopicScheme {
 public:
  explicit TopicScheme(std::string prefix);

  TopicRef Parse(std::string_view topic) const;

  std::string ChatTopic(std::string_view channel, std::string_view leaf) const;  // leaf: "msg", ...
  static std::string PresenceTopic(std::string_view user);
  static std::string AdminChannelTopic(std::string_view channel);
  static constexpr std::string_view kAdminErrorTopic = "$chat/admin/error";
  static constexpr std::string_view kAdminChannelsFilter = "$chat/admin/channels/+";

  // Classifies a SUBSCRIBE filter.
  struct FilterRef {
    enum class Scope {
      kOther,        // cannot match any chat, presence or admin topic
      kChatOne,      // names one channel: `id` (the leaf may be a wildcard)
      kChatMany,     // may match chat topics of several channels (wildcard channel level)
      kPresence,     // presence/<user>, presence/+, presence/#
      kAdmin,        // may match $chat/ topics
      kInvalid,      // under a chat namespace but cannot match any valid topic there
      kBroad,        // a leading wildcard: may match chat and presence topics (never $ topics)
    };
    Scope scope = Scope::kOther;
    std::string_view id;
  };
  FilterRef ParseFilter(std::string_view filter) const;

  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
};

}  // namespace chat
