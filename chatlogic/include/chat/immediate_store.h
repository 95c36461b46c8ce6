// ImmediateStore: a Store that answers every call before returning (memory,
// local). It states reads and watermark updates as plain synchronous
// primitives and builds the Store's callback forms on them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/store.h"

namespace chat {

class ImmediateStore : public Store {
 public:
  // Highest seq assigned in the channel (0 when none).
  virtual Status Head(std::string_view channel, uint64_t* head) = 0;
  // Up to `limit` stored messages with seq > after, in seq order, after
  // dropping what retention no longer keeps at `now_ms`. *first_kept is the
  // lowest seq still stored (head + 1 when history is empty).
  virtual Status ReadHistory(std::string_view channel, uint64_t after, size_t limit, int64_t now_ms,
                             const HistoryLimits& limits, std::vector<StoredMessage>* out,
                             uint64_t* first_kept) = 0;
  virtual Status AdvanceWatermarkNow(std::string_view channel, std::string_view user, ReceiptKind kind,
                                     uint64_t upto, Watermarks* now, bool* advanced) = 0;
  virtual Status GetWatermarks(std::string_view channel, std::string_view user, Watermarks* out) = 0;
  virtual Status Epoch(std::string_view channel, std::string* epoch) = 0;

  // The callback forms, answered at once.
  void ReadSync(const SyncQuery& query, SyncCallback done) final;
  void AdvanceWatermark(std::string_view channel, std::string_view user, ReceiptKind kind, uint64_t upto,
                        WatermarkCallback done) final;
};

}  // namespace chat
