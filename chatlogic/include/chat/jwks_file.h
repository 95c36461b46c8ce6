// JwksFile: the JWKS file behind the token keys, re-read when it changes.
// A file that fails to parse never replaces the keys in use.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "chat/key_set.h"
#include "chat/status.h"

namespace chat {

class JwksFile {
 public:
  // path empty: no keys, every token is refused.
  explicit JwksFile(std::string path) : path_(std::move(path)) {}

  // Reads the file if `force` or if its identity (inode, size, mtime)
  // changed since the last successful read. *changed tells whether new keys
  // are in use. On error the previous keys stay.
  Status Refresh(bool force, bool* changed);

  // The keys in use; never null (empty before the first successful read).
  std::shared_ptr<const KeySet> keys() const { return keys_; }
  const std::string& path() const { return path_; }

 private:
  struct Identity {
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = -1;
    bool operator==(const Identity&) const = default;
  };

  std::string path_;
  Identity seen_;
  std::shared_ptr<const KeySet> keys_ = std::make_shared<KeySet>();
};

}  // namespace chat
