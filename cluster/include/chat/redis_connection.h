// RedisConnection: one synchronous hiredis connection, and RedisValue, an owned reply.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chat/redis_address.h"
#include "chat/status.h"

struct redisContext;  // hiredis

namespace chat {

// An owned copy of a hiredis reply (RESP2).
struct RedisValue {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;               // kInteger
  std::string str;                   // kString, kStatus, kError
  std::vector<RedisValue> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
};

// One synchronous connection, used by exactly one thread at a time.
// Pipelining: Append several commands, then one GetReply per command, in order.
// Once an I/O error, a timeout or a protocol error has happened the connection
// is broken() for good (the reply stream can no longer be trusted): every later
// call fails fast with the first error. Make a new connection to recover.
// SIGPIPE from a peer that went away is swallowed, not delivered.
class RedisConnection {
 public:
  // Connects with timeout_ms (> 0) for the connect and for every later read and
  // write, then sends AUTH (AUTH user pw when a username is set) if there is a
  // password, and SELECT db if db != 0. Any failure, including a refused AUTH or
  // SELECT, is IOError naming the address (never the password);
  // timeout_ms <= 0 is InvalidArgument.
  static Status Connect(const RedisAddress& address, int timeout_ms, std::unique_ptr<RedisConnection>* out);

  ~RedisConnection();  // closes the socket (redisFree)
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Queues one command; nothing is sent before the next GetReply. Binary safe.
  // An empty argv breaks the connection (Redis would never answer it).
  void Append(const std::vector<std::string>& argv);

  // Sends whatever is queued, then waits for the next reply. IOError when the
  // connection fails, times out or is already broken. A Redis error reply is not
  // a Status error: it is a RedisValue of type kError. With nothing queued it
  // waits for a push (pub/sub), up to the timeout.
  Status GetReply(RedisValue* out);

  // Append + GetReply.
  Status Command(const std::vector<std::string>& argv, RedisValue* out);

  // Read/write timeout from now on; 0 = block forever (a subscriber waiting
  // for pushes). Negative is InvalidArgument.
  Status SetTimeout(int timeout_ms);

  bool broken() const { return broken_; }
  int fd() const;
  // The address as DescribeRedisAddress gives it, for logs.
  const std::string& description() const { return description_; }

 private:
  RedisConnection(redisContext* context, std::string description);
  // Marks the connection broken with `what`; returns the IOError to give back.
  Status Break(const std::string& what);

  redisContext* context_;
  std::string description_;
  bool broken_ = false;
  std::string broken_reason_;
  bool unsent_ = false;  // Append since the last GetReply: the next one writes
};

}  // namespace chat
