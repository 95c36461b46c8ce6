// ChannelCatalogFile: channel documents kept in one JSON file, rewritten
// atomically (temporary file, fsync, rename, fsync of the directory) on
// every change, so a crash leaves either the old or the new catalog.
#pragma once

#include <string>
#include <vector>

#include "chat/channel_config.h"
#include "chat/status.h"

namespace chat {

class ChannelCatalogFile {
 public:
  explicit ChannelCatalogFile(std::string path) : path_(std::move(path)) {}

  // A missing file is an empty catalog; an unreadable or invalid one is
  // Corruption (never silently treated as empty).
  Status Load(std::vector<ChannelConfig>* out) const;
  Status Save(const std::vector<ChannelConfig>& channels) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace chat
