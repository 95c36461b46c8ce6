// SequenceGate: turns a cluster feed that may lose messages (a dropped
// subscription, a node that was away) into per-channel delivery in seq order
// with no gap and no repeat. A hole is never skipped silently: the gate asks
// for a fill from history and holds later messages until it arrives. Only a
// hole that history no longer has (retention dropped it) is stepped over, and
// that is counted.
//
// Pure logic, one thread: the caller moves messages in and out.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "chat/store.h"
#include "chat/string_hash.h"

namespace chat {

class SequenceGate {
 public:
  // Read history (after, upto] of `channel`, at most `limit` messages.
  struct Fill {
    std::string channel;
    uint64_t after = 0;
    uint64_t upto = 0;
    size_t limit = 0;
  };
  struct Output {
    std::vector<StoredMessage> deliver;  // in seq order
    std::vector<Fill> fills;             // history reads to make
    uint64_t skipped = 0;                // seqs given up on: history no longer had them
  };

  explicit SequenceGate(size_t fill_limit = 500) : fill_limit_(fill_limit) {}

  // The channel's head when this node began (or resumed) listening to the
  // feed: a channel not yet followed is followed from there; a followed one
  // fetches what it missed (as OnHead).
  void Start(std::string_view channel, uint64_t head, Output* out);
  // A message from the live feed. For a channel not followed yet (created
  // after the feed started), the first message starts its sequence.
  void OnFeed(std::string_view channel, StoredMessage m, Output* out);
  // The answer to a Fill: the stored messages of its range, ascending; any
  // seq of the range missing from `page` is no longer in history.
  void OnFill(const Fill& fill, std::vector<StoredMessage> page, Output* out);
  // A Fill could not be made (the store is unreachable); it is asked again
  // with the next feed message or head.
  void OnFillFailed(std::string_view channel);
  // The channel's head as read after the feed came back: anything above
  // what was delivered is fetched.
  void OnHead(std::string_view channel, uint64_t head, Output* out);
  // The channel was deleted: its sequence starts again.
  void Reset(std::string_view channel);

  bool Follows(std::string_view channel) const { return cursors_.find(channel) != cursors_.end(); }
  // Channels whose sequence is being followed.
  std::vector<std::string> Channels() const;
  uint64_t Delivered(std::string_view channel) const;

 private:
  struct Cursor {
    uint64_t delivered = 0;                     // highest seq delivered
    std::map<uint64_t, StoredMessage> pending;  // held behind a hole
    bool filling = false;
  };
  // Delivers what is contiguous after `delivered`; asks for a fill of the
  // next hole if one remains and none is under way.
  void Drain(std::string_view channel, Cursor* c, Output* out);
  void RequestFill(std::string_view channel, Cursor* c, uint64_t upto, Output* out);

  size_t fill_limit_;
  StringMap<Cursor> cursors_;
};

}  // namespace chat
