#include "chat/memory_store.h"

#include <algorithm>

#include "chat/hex.h"

namespace chat {

Status MemoryStore::Open(const StoreSettings& settings, std::string catalog_path, std::unique_ptr<Store>* out) {
  std::unique_ptr<MemoryStore> store(new MemoryStore(settings));
  if (!catalog_path.empty()) {
    store->catalog_ = std::make_unique<ChannelCatalogFile>(std::move(catalog_path));
    std::vector<ChannelConfig> channels;
    Status s = store->catalog_->Load(&channels);
    if (!s.ok()) return s;
    for (auto& c : channels) store->channels_.insert_or_assign(c.id, std::move(c));
  }
  *out = std::move(store);
  return Status::Ok();
}

Status MemoryStore::PersistCatalog() {
  if (!catalog_) return Status::Ok();
  std::vector<ChannelConfig> all;
  LoadChannels(&all);
  return catalog_->Save(all);
}

void MemoryStore::Trim(ChannelState* st, int64_t now_ms, const HistoryLimits& limits) {
  while (st->history.size() > limits.max_count) st->history.pop_front();
  if (limits.max_age_ms > 0) {
    const int64_t oldest = now_ms - limits.max_age_ms;
    while (!st->history.empty() && static_cast<int64_t>(st->history.front().sts) < oldest) st->history.pop_front();
  }
}

void MemoryStore::ExpireFingerprints(ChannelState* st, int64_t now_ms) {
  while (!st->dedup_order.empty() && st->dedup_order.front().expires_ms <= now_ms) {
    const Fingerprint& f = st->dedup_order.front();
    auto it = st->dedup.find(f.id);
    // The id may have been accepted again after expiring: keep the newer entry.
    if (it != st->dedup.end() && it->second == f.seq) st->dedup.erase(it);
    st->dedup_order.pop_front();
  }
}

MemoryStore::ChannelState& MemoryStore::StateOf(std::string_view channel) {
  auto it = state_.find(channel);
  if (it != state_.end()) return it->second;
  ChannelState st;
  st.epoch = RandomHex(settings_.env, 8);
  return state_.emplace(std::string(channel), std::move(st)).first->second;
}

AppendResult MemoryStore::Append(const AppendRequest& req, AppendCallback /*later*/) {
  ChannelState& st = StateOf(req.channel);
  ExpireFingerprints(&st, req.now_ms);
  const ClientMessage& msg = *req.message;
  if (auto it = st.dedup.find(msg.id); it != st.dedup.end()) {
    return AppendResult{AppendStatus::kDuplicate, it->second, Status::Ok()};
  }
  const uint64_t seq = ++st.head;
  st.dedup.emplace(msg.id, seq);
  st.dedup_order.push_back(Fingerprint{msg.id, seq, req.now_ms + settings_.dedup_window_ms});
  st.history.push_back(MakeStoredMessage(req, seq));
  Trim(&st, req.now_ms, req.limits);
  return AppendResult{AppendStatus::kAccepted, seq, Status::Ok()};
}

void MemoryStore::ExpireTokenIds(int64_t now_ms) {
  while (!token_expiry_.empty() && token_expiry_.top().first < now_ms) {
    auto it = token_ids_.find(token_expiry_.top().second);
    if (it != token_ids_.end() && it->second < now_ms) token_ids_.erase(it);
    token_expiry_.pop();
  }
}

Status MemoryStore::ClaimTokenId(std::string_view jti, int64_t expires_ms, int64_t now_ms, bool* first_use) {
  ExpireTokenIds(now_ms);
  auto it = token_ids_.find(jti);
  if (it != token_ids_.end() && it->second >= now_ms) {
    *first_use = false;
    return Status::Ok();
  }
  token_ids_.insert_or_assign(std::string(jti), expires_ms);
  token_expiry_.emplace(expires_ms, std::string(jti));
  *first_use = true;
  return Status::Ok();
}

Status MemoryStore::SaveChannel(const ChannelConfig& config) {
  auto previous = channels_.find(config.id);
  std::optional<ChannelConfig> old;
  if (previous != channels_.end()) old = previous->second;
  channels_.insert_or_assign(config.id, config);
  if (Status s = PersistCatalog(); !s.ok()) {
    if (old) channels_.insert_or_assign(config.id, *old);
    else channels_.erase(config.id);
    return s;
  }
  return Status::Ok();
}

Status MemoryStore::DeleteChannel(std::string_view id) {
  auto it = channels_.find(id);
  if (it != channels_.end()) {
    ChannelConfig old = it->second;
    channels_.erase(it);
    if (Status s = PersistCatalog(); !s.ok()) {
      channels_.insert_or_assign(old.id, old);
      return s;
    }
  }
  if (auto st = state_.find(id); st != state_.end()) state_.erase(st);
  return Status::Ok();
}

Status MemoryStore::LoadChannels(std::vector<ChannelConfig>* out) {
  out->clear();
  for (const auto& [id, c] : channels_) out->push_back(c);
  std::sort(out->begin(), out->end(), [](const ChannelConfig& a, const ChannelConfig& b) { return a.id < b.id; });
  return Status::Ok();
}

Status MemoryStore::Head(std::string_view channel, uint64_t* head) {
  auto it = state_.find(channel);
  *head = it == state_.end() ? 0 : it->second.head;
  return Status::Ok();
}

Status MemoryStore::ReadHistory(std::string_view channel, uint64_t after, size_t limit, int64_t now_ms,
                                const HistoryLimits& limits, std::vector<StoredMessage>* out,
                                uint64_t* first_kept) {
  out->clear();
  auto it = state_.find(channel);
  if (it == state_.end()) {
    *first_kept = 1;
    return Status::Ok();
  }
  ChannelState& st = it->second;
  Trim(&st, now_ms, limits);
  *first_kept = st.history.empty() ? st.head + 1 : st.history.front().seq;
  if (st.history.empty()) return Status::Ok();
  // History is gapless between front and back: index by seq.
  const uint64_t front = st.history.front().seq;
  size_t index = after < front ? 0 : static_cast<size_t>(after - front + 1);
  for (; index < st.history.size() && out->size() < limit; ++index) out->push_back(st.history[index]);
  return Status::Ok();
}

Status MemoryStore::AdvanceWatermarkNow(std::string_view channel, std::string_view user, ReceiptKind kind,
                                     uint64_t upto, Watermarks* now, bool* advanced) {
  ChannelState& st = StateOf(channel);
  auto it = st.watermarks.find(user);
  if (it == st.watermarks.end()) it = st.watermarks.emplace(std::string(user), Watermarks{}).first;
  Watermarks& w = it->second;
  const uint64_t target = std::min(upto, st.head);
  uint64_t& mark = kind == ReceiptKind::kRead ? w.read : w.delivered;
  *advanced = target > mark;
  mark = std::max(mark, target);
  w.delivered = std::max(w.delivered, w.read);
  *now = w;
  return Status::Ok();
}

Status MemoryStore::GetWatermarks(std::string_view channel, std::string_view user, Watermarks* out) {
  *out = Watermarks{};
  auto st = state_.find(channel);
  if (st == state_.end()) return Status::Ok();
  auto it = st->second.watermarks.find(user);
  if (it != st->second.watermarks.end()) *out = it->second;
  return Status::Ok();
}

Status MemoryStore::Epoch(std::string_view channel, std::string* epoch) {
  *epoch = StateOf(channel).epoch;
  return Status::Ok();
}

}  // namespace chat
