#include "chat/topics.h"

#include "chat/ids.h"

namespace chat {
namespace {

// Splits off the first level of `rest`; `rest` keeps what follows the '/'.
// has_more is false when no '/' was found.
std::string_view NextLevel(std::string_view* rest, bool* has_more) {
  size_t slash = rest->find('/');
  std::string_view level = rest->substr(0, slash);
  *has_more = slash != std::string_view::npos;
  *rest = *has_more ? rest->substr(slash + 1) : std::string_view();
  return level;
}

TopicKind ChatLeaf(std::string_view leaf) {
  if (leaf == "msg") return TopicKind::kChatMsg;
  if (leaf == "receipt") return TopicKind::kChatReceipt;
  if (leaf == "typing") return TopicKind::kChatTyping;
  if (leaf == "sync") return TopicKind::kChatSync;
  if (leaf == "error") return TopicKind::kChatError;
  return TopicKind::kChatInvalid;
}

constexpr std::string_view kPresence = "presence";
constexpr std::string_view kDollarChat = "$chat";

}  // namespace

bool IsChatKind(TopicKind k) {
  return k == TopicKind::kChatMsg || k == TopicKind::kChatReceipt || k == TopicKind::kChatTyping ||
         k == TopicKind::kChatSync || k == TopicKind::kChatError || k == TopicKind::kChatInvalid;
}

TopicScheme::TopicScheme(std::string prefix) : prefix_(std::move(prefix)) {}

TopicRef TopicScheme::Parse(std::string_view topic) const {
  std::string_view rest = topic;
  bool more = false;
  std::string_view first = NextLevel(&rest, &more);
  if (first == prefix_) {
    if (!more) return {TopicKind::kChatInvalid, {}};
    std::string_view ch = NextLevel(&rest, &more);
    if (!more || !IsValidId(ch)) return {TopicKind::kChatInvalid, {}};
    std::string_view leaf = NextLevel(&rest, &more);
    if (more) return {TopicKind::kChatInvalid, {}};
    return {ChatLeaf(leaf), ch};
  }
  if (first == kPresence) {
    if (!more) return {TopicKind::kPresenceInvalid, {}};
    std::string_view user = NextLevel(&rest, &more);
    if (more || !IsValidId(user)) return {TopicKind::kPresenceInvalid, {}};
    return {TopicKind::kPresence, user};
  }
  if (first == kDollarChat) {
    if (!more || NextLevel(&rest, &more) != "admin" || !more) return {TopicKind::kAdminInvalid, {}};
    std::string_view what = NextLevel(&rest, &more);
    if (what == "error" && !more) return {TopicKind::kAdminError, {}};
    if (what == "channels" && more) {
      std::string_view ch = NextLevel(&rest, &more);
      if (!more && IsValidId(ch)) return {TopicKind::kAdminChannel, ch};
    }
    return {TopicKind::kAdminInvalid, {}};
  }
  return {TopicKind::kOther, {}};
}

std::string TopicScheme::ChatTopic(std::string_view channel, std::string_view leaf) const {
  std::string t;
  t.reserve(prefix_.size() + channel.size() + leaf.size() + 2);
  t.append(prefix_).append("/").append(channel).append("/").append(leaf);
  return t;
}

std::string TopicScheme::PresenceTopic(std::string_view user) {
  return std::string(kPresence) + "/" + std::string(user);
}

std::string TopicScheme::AdminChannelTopic(std::string_view channel) {
  return "$chat/admin/channels/" + std::string(channel);
}

TopicScheme::FilterRef TopicScheme::ParseFilter(std::string_view filter) const {
  using Scope = FilterRef::Scope;
  std::string_view rest = filter;
  bool more = false;
  std::string_view first = NextLevel(&rest, &more);
  if (first == "+" || first == "#") {
    // MQTT: a leading wildcard never matches a topic starting with '$'.
    return {Scope::kBroad, {}};
  }
  if (first == kDollarChat) return {Scope::kAdmin, {}};
  if (first.starts_with("$")) return {Scope::kOther, {}};
  if (first == kPresence) return {Scope::kPresence, {}};
  if (first != prefix_) return {Scope::kOther, {}};
  if (!more) return {Scope::kInvalid, {}};  // exactly "<prefix>": matches no chat topic
  std::string_view ch = NextLevel(&rest, &more);
  if (ch == "+" || ch == "#") return {Scope::kChatMany, {}};
  if (!IsValidId(ch)) return {Scope::kInvalid, {}};
  if (!more) return {Scope::kInvalid, {}};
  std::string_view leaf = NextLevel(&rest, &more);
  if (leaf == "#" && !more) return {Scope::kChatOne, ch};
  if (more) return {Scope::kInvalid, {}};
  if (leaf == "+" || ChatLeaf(leaf) != TopicKind::kChatInvalid) return {Scope::kChatOne, ch};
  return {Scope::kInvalid, {}};
}

}  // namespace chat
