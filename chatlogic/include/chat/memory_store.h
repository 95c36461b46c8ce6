// MemoryStore: the in-process Store. Chat state (sequences, history, dedup
// fingerprints, token ids) lives only in memory and is gone on restart.
// Channel configurations are configuration, not chat state: when a catalog
// path is given they are also kept in that file (see ChannelCatalogFile) so
// the administered channels survive a restart.
#pragma once

#include <deque>
#include <memory>
#include <queue>
#include <string>

#include "chat/channel_catalog_file.h"
#include "chat/immediate_store.h"
#include "chat/string_hash.h"

namespace chat {

class MemoryStore final : public ImmediateStore {
 public:
  // catalog_path empty: channels are kept in memory only. Otherwise the
  // catalog is read now; an unreadable catalog fails the open.
  static Status Open(const StoreSettings& settings, std::string catalog_path, std::unique_ptr<Store>* out);

  AppendResult Append(const AppendRequest& request, AppendCallback later) override;
  Status ClaimTokenId(std::string_view jti, int64_t expires_ms, int64_t now_ms, bool* first_use) override;
  Status SaveChannel(const ChannelConfig& config) override;
  Status DeleteChannel(std::string_view id) override;
  Status LoadChannels(std::vector<ChannelConfig>* out) override;
  Status Head(std::string_view channel, uint64_t* head) override;
  Status ReadHistory(std::string_view channel, uint64_t after, size_t limit, int64_t now_ms,
                     const HistoryLimits& limits, std::vector<StoredMessage>* out, uint64_t* first_kept) override;
  Status AdvanceWatermarkNow(std::string_view channel, std::string_view user, ReceiptKind kind, uint64_t upto,
                          Watermarks* now, bool* advanced) override;
  Status GetWatermarks(std::string_view channel, std::string_view user, Watermarks* out) override;
  Status Epoch(std::string_view channel, std::string* epoch) override;

 private:
  struct Fingerprint {
    std::string id;
    uint64_t seq;
    int64_t expires_ms;
  };
  struct ChannelState {
    std::string epoch;
    uint64_t head = 0;
    StringMap<Watermarks> watermarks;  // by user
    std::deque<StoredMessage> history;       // ascending seq
    StringMap<uint64_t> dedup;               // id -> seq
    std::deque<Fingerprint> dedup_order;     // ascending expiry
  };

  explicit MemoryStore(const StoreSettings& settings) : settings_(settings) {}
  Status PersistCatalog();

  // The channel's state, created (with a fresh epoch) on first use.
  ChannelState& StateOf(std::string_view channel);

  static void Trim(ChannelState* st, int64_t now_ms, const HistoryLimits& limits);
  void ExpireFingerprints(ChannelState* st, int64_t now_ms);
  void ExpireTokenIds(int64_t now_ms);

  StoreSettings settings_;
  std::unique_ptr<ChannelCatalogFile> catalog_;  // null when not persisted
  StringMap<ChannelConfig> channels_;
  StringMap<ChannelState> state_;
  StringMap<int64_t> token_ids_;                             // jti -> expiry
  // (expiry, jti), soonest first: drives expiry of token_ids_.
  std::priority_queue<std::pair<int64_t, std::string>, std::vector<std::pair<int64_t, std::string>>,
                      std::greater<>>
      token_expiry_;
};

}  // namespace chat
