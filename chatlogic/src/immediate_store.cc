#include "chat/immediate_store.h"

namespace chat {

void ImmediateStore::ReadSync(const SyncQuery& q, SyncCallback done) {
  SyncSnapshot snap;
  Status st = Head(q.channel, &snap.head);
  if (st.ok()) st = Epoch(q.channel, &snap.epoch);
  if (st.ok()) st = GetWatermarks(q.channel, q.user, &snap.marks);
  if (st.ok()) st = ReadHistory(q.channel, q.after, q.limit, q.now_ms, q.limits, &snap.page, &snap.first_kept);
  done(st, snap);
}

void ImmediateStore::AdvanceWatermark(std::string_view channel, std::string_view user, ReceiptKind kind,
                                      uint64_t upto, WatermarkCallback done) {
  Watermarks now;
  bool advanced = false;
  Status st = AdvanceWatermarkNow(channel, user, kind, upto, &now, &advanced);
  done(st, now, advanced);
}

}  // namespace chat
