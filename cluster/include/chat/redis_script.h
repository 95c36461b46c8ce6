// RedisScript: a Lua script and its SHA1, computed locally, for EVALSHA.
#pragma once

#include <string>
#include <vector>

#include "chat/redis_connection.h"

namespace chat {

class RedisScript {
 public:
  // sha1() is the lowercase hex SHA1 of `source`, the same as SCRIPT LOAD returns.
  RedisScript(std::string name, std::string source);

  const std::string& name() const { return name_; }  // for logs
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }

  // EVALSHA sha1 numkeys keys... args...
  std::vector<std::string> EvalShaArgv(const std::vector<std::string>& keys, const std::vector<std::string>& args) const;
  // SCRIPT LOAD source
  std::vector<std::string> LoadArgv() const;

 private:
  std::string name_;
  std::string source_;
  std::string sha1_;
};

// True for the error reply to EVALSHA of a script the server does not have
// (after a restart or SCRIPT FLUSH): load it and send again.
bool IsNoScript(const RedisValue& reply);

}  // namespace chat
