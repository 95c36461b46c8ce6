#include "chat/channel_catalog_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace chat {

using nlohmann::json;

namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(Errno("write " + path));
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Status ChannelCatalogFile::Load(std::vector<ChannelConfig>* out) const {
  out->clear();
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return Status::Ok();
    return Status::IOError(Errno("open " + path_));
  }
  std::stringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("channels") || !doc["channels"].is_object()) {
    return Status::Corruption(path_ + " is not a channel catalog");
  }
  ChannelDocLimits limits;
  limits.max_members = SIZE_MAX;
  for (auto it = doc["channels"].begin(); it != doc["channels"].end(); ++it) {
    ChannelConfig c;
    Status s = ParseChannelDocument(it.key(), it.value().dump(), limits, &c);
    if (!s.ok()) return Status::Corruption(path_ + ": channel " + it.key() + ": " + s.message());
    out->push_back(std::move(c));
  }
  return Status::Ok();
}

Status ChannelCatalogFile::Save(const std::vector<ChannelConfig>& channels) const {
  json doc = json::object();
  doc["version"] = 1;
  json all = json::object();
  for (const auto& c : channels) all[c.id] = json::parse(ToChannelDocument(c));
  doc["channels"] = std::move(all);
  std::string data = doc.dump(1) + "\n";

  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError(Errno("open " + tmp));
  Status s = WriteAll(fd, data, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Status::IOError(Errno("fsync " + tmp));
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) s = Status::IOError(Errno("rename " + tmp));
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  int dir = ::open(DirectoryOf(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

}  // namespace chat
