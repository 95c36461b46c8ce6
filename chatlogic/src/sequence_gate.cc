#include "chat/sequence_gate.h"

#include <algorithm>

namespace chat {

void SequenceGate::Start(std::string_view channel, uint64_t head, Output* out) {
  auto it = cursors_.find(channel);
  if (it == cursors_.end()) {
    cursors_.emplace(std::string(channel), Cursor{}).first->second.delivered = head;
    return;
  }
  OnHead(channel, head, out);
}

void SequenceGate::OnFeed(std::string_view channel, StoredMessage m, Output* out) {
  auto it = cursors_.find(channel);
  if (it == cursors_.end()) {
    it = cursors_.emplace(std::string(channel), Cursor{}).first;
    it->second.delivered = m.seq - 1;
  }
  Cursor& c = it->second;
  if (m.seq <= c.delivered) return;  // a repeat (a fill already brought it)
  const uint64_t seq = m.seq;
  c.pending.emplace(seq, std::move(m));
  Drain(channel, &c, out);
}

void SequenceGate::Drain(std::string_view channel, Cursor* c, Output* out) {
  while (!c->pending.empty() && c->pending.begin()->first <= c->delivered + 1) {
    auto first = c->pending.begin();
    if (first->first == c->delivered + 1) {
      out->deliver.push_back(std::move(first->second));
      c->delivered = first->first;
    }
    c->pending.erase(first);
  }
  if (!c->pending.empty() && !c->filling) RequestFill(channel, c, c->pending.begin()->first - 1, out);
}

void SequenceGate::RequestFill(std::string_view channel, Cursor* c, uint64_t upto, Output* out) {
  c->filling = true;
  out->fills.push_back(Fill{std::string(channel), c->delivered, upto, fill_limit_});
}

void SequenceGate::OnFill(const Fill& fill, std::vector<StoredMessage> page, Output* out) {
  auto it = cursors_.find(fill.channel);
  if (it == cursors_.end()) return;  // reset meanwhile
  Cursor& c = it->second;
  c.filling = false;
  const bool full = page.size() >= fill.limit;
  for (StoredMessage& m : page) {
    if (m.seq <= c.delivered || m.seq > fill.upto) continue;
    if (m.seq > c.delivered + 1) {
      out->skipped += m.seq - c.delivered - 1;  // trimmed from history
    }
    c.delivered = m.seq;
    out->deliver.push_back(std::move(m));
  }
  if (!full && c.delivered < fill.upto) {
    // The rest of the range is no longer in history.
    out->skipped += fill.upto - c.delivered;
    c.delivered = fill.upto;
  }
  if (c.delivered < fill.upto) {
    RequestFill(fill.channel, &c, fill.upto, out);  // a long hole: the next page
    return;
  }
  Drain(fill.channel, &c, out);
}

void SequenceGate::OnFillFailed(std::string_view channel) {
  auto it = cursors_.find(channel);
  if (it != cursors_.end()) it->second.filling = false;
}

void SequenceGate::OnHead(std::string_view channel, uint64_t head, Output* out) {
  auto it = cursors_.find(channel);
  if (it == cursors_.end()) return;
  Cursor& c = it->second;
  if (head <= c.delivered || c.filling) return;
  // Everything up to head: messages already held are kept and skipped by
  // seq when the fill brings them again.
  RequestFill(channel, &c, head, out);
}

void SequenceGate::Reset(std::string_view channel) {
  auto it = cursors_.find(channel);
  if (it != cursors_.end()) cursors_.erase(it);
}

std::vector<std::string> SequenceGate::Channels() const {
  std::vector<std::string> out;
  out.reserve(cursors_.size());
  for (const auto& [name, c] : cursors_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t SequenceGate::Delivered(std::string_view channel) const {
  auto it = cursors_.find(channel);
  return it == cursors_.end() ? 0 : it->second.delivered;
}

}  // namespace chat
