#include "chat/redis_script.h"

#include <openssl/evp.h>

#include <string_view>

#include "chat/hex.h"

namespace chat {

namespace {

// Lowercase hex SHA1; empty only if OpenSSL fails (then EVALSHA gets an error reply).
std::string Sha1Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha1(), nullptr) != 1) return std::string();
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace

RedisScript::RedisScript(std::string name, std::string source)
    : name_(std::move(name)), source_(std::move(source)), sha1_(Sha1Hex(source_)) {}

std::vector<std::string> RedisScript::EvalShaArgv(const std::vector<std::string>& keys,
                                                  const std::vector<std::string>& args) const {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(sha1_);
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> RedisScript::LoadArgv() const { return {"SCRIPT", "LOAD", source_}; }

bool IsNoScript(const RedisValue& reply) {
  return reply.is_error() && std::string_view(reply.str).starts_with("NOSCRIPT");
}

}  // namespace chat
