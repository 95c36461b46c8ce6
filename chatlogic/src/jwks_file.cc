#include "chat/jwks_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace chat {

Status JwksFile::Refresh(bool force, bool* changed) {
  *changed = false;
  if (path_.empty()) return Status::Ok();
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) {
    return Status::IOError("cannot read JWKS file " + path_ + ": " + std::strerror(errno));
  }
  Identity now{st.st_ino, st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  if (!force && now == seen_) return Status::Ok();

  std::ifstream in(path_, std::ios::binary);
  if (!in) return Status::IOError("cannot open JWKS file " + path_ + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  std::shared_ptr<const KeySet> parsed;
  Status s = KeySet::Parse(text.str(), &parsed);
  // Remember the identity even on failure, so a bad file is reported once,
  // not at every check; a later change is read again.
  seen_ = now;
  if (!s.ok()) return Status::InvalidArgument("JWKS file " + path_ + ": " + s.message());
  keys_ = std::move(parsed);
  *changed = true;
  return Status::Ok();
}

}  // namespace chat
