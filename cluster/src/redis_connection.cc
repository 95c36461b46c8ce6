#include "chat/redis_connection.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

namespace chat {

namespace {

timeval ToTimeval(int timeout_ms) {
  timeval tv;
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>(timeout_ms % 1000) * 1000;
  return tv;
}

// While alive, SIGPIPE is blocked in this thread; a SIGPIPE raised meanwhile
// (a write to a peer that closed) is consumed, unless one was already pending.
// hiredis writes with write(2), which cannot be told MSG_NOSIGNAL.
class ScopedSigpipeBlock {
 public:
  explicit ScopedSigpipeBlock(bool active) {
    if (!active) return;
    sigemptyset(&sigpipe_);
    sigaddset(&sigpipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    active_ = pthread_sigmask(SIG_BLOCK, &sigpipe_, &old_) == 0;
  }
  ~ScopedSigpipeBlock() {
    if (!active_) return;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        while (sigtimedwait(&sigpipe_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  bool active_ = false;
  bool was_pending_ = false;
  sigset_t sigpipe_;
  sigset_t old_;
};

// Copies `r` into `out`; false for a reply type RESP2 does not have.
bool CopyReply(const redisReply* r, RedisValue* out) {
  *out = RedisValue();
  switch (r->type) {
    case REDIS_REPLY_NIL:
      out->type = RedisValue::Type::kNil;
      return true;
    case REDIS_REPLY_INTEGER:
      out->type = RedisValue::Type::kInteger;
      out->integer = r->integer;
      return true;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out->type = r->type == REDIS_REPLY_STRING   ? RedisValue::Type::kString
                  : r->type == REDIS_REPLY_STATUS ? RedisValue::Type::kStatus
                                                  : RedisValue::Type::kError;
      out->str.assign(r->str, r->len);
      return true;
    case REDIS_REPLY_ARRAY:
      out->type = RedisValue::Type::kArray;
      out->elements.resize(r->elements);
      for (size_t i = 0; i < r->elements; ++i) {
        if (!CopyReply(r->element[i], &out->elements[i])) return false;
      }
      return true;
    default:
      return false;
  }
}

}  // namespace

RedisConnection::RedisConnection(redisContext* context, std::string description)
    : context_(context), description_(std::move(description)) {}

RedisConnection::~RedisConnection() { redisFree(context_); }

Status RedisConnection::Connect(const RedisAddress& address, int timeout_ms, std::unique_ptr<RedisConnection>* out) {
  std::string description = DescribeRedisAddress(address);
  if (timeout_ms <= 0) return Status::InvalidArgument("Redis " + description + ": the timeout must be > 0 ms");
  if (address.db < 0) return Status::InvalidArgument("Redis " + description + ": negative database number");
  if (!address.username.empty() && address.password.empty()) {
    return Status::InvalidArgument("Redis " + description + ": a username needs a password");
  }

  const timeval tv = ToTimeval(timeout_ms);
  redisContext* context = address.unix_socket ? redisConnectUnixWithTimeout(address.path.c_str(), tv)
                                              : redisConnectWithTimeout(address.host.c_str(), address.port, tv);
  if (context == nullptr) return Status::IOError("cannot connect to Redis " + description + ": out of memory");
  if (context->err != 0) {
    std::string why = context->errstr;
    redisFree(context);
    return Status::IOError("cannot connect to Redis " + description + ": " + why);
  }
  std::unique_ptr<RedisConnection> conn(new RedisConnection(context, description));
  Status s = conn->SetTimeout(timeout_ms);
  if (!s.ok()) return s;

  RedisValue reply;
  if (!address.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!address.username.empty()) auth.push_back(address.username);
    auth.push_back(address.password);
    s = conn->Command(auth, &reply);
    if (!s.ok()) return s;
    if (reply.is_error()) return Status::IOError("Redis " + description + " refused AUTH: " + reply.str);
  }
  if (address.db != 0) {
    s = conn->Command({"SELECT", std::to_string(address.db)}, &reply);
    if (!s.ok()) return s;
    if (reply.is_error()) {
      return Status::IOError("Redis " + description + " refused SELECT " + std::to_string(address.db) + ": " +
                             reply.str);
    }
  }
  *out = std::move(conn);
  return Status::Ok();
}

Status RedisConnection::Break(const std::string& what) {
  if (!broken_) {
    broken_ = true;
    broken_reason_ = "Redis connection " + description_ + " broken: " + what;
  }
  return Status::IOError(broken_reason_);
}

void RedisConnection::Append(const std::vector<std::string>& argv) {
  if (broken_) return;
  if (argv.empty()) {
    Break("empty command appended");
    return;
  }
  std::vector<const char*> args(argv.size());
  std::vector<size_t> lengths(argv.size());
  for (size_t i = 0; i < argv.size(); ++i) {
    args[i] = argv[i].data();
    lengths[i] = argv[i].size();
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), args.data(), lengths.data()) != REDIS_OK) {
    Break(context_->err != 0 ? context_->errstr : "cannot queue a command (out of memory)");
    return;
  }
  unsent_ = true;
}

Status RedisConnection::GetReply(RedisValue* out) {
  if (broken_) return Status::IOError(broken_reason_);
  void* raw = nullptr;
  int rc;
  {
    ScopedSigpipeBlock no_sigpipe(unsent_);
    rc = redisGetReply(context_, &raw);
  }
  unsent_ = false;  // in blocking mode hiredis writes everything before it reads
  if (rc != REDIS_OK || raw == nullptr) {
    if (raw != nullptr) freeReplyObject(raw);
    std::string why = context_->err != 0 ? context_->errstr : "no reply";
    if (context_->err == REDIS_ERR_IO && (why == std::strerror(EAGAIN) || why == std::strerror(EWOULDBLOCK))) {
      why = "timed out";
    }
    return Break(why);
  }
  const bool copied = CopyReply(static_cast<redisReply*>(raw), out);
  freeReplyObject(raw);
  if (!copied) return Break("unsupported reply type");
  return Status::Ok();
}

Status RedisConnection::Command(const std::vector<std::string>& argv, RedisValue* out) {
  Append(argv);
  return GetReply(out);
}

Status RedisConnection::SetTimeout(int timeout_ms) {
  if (timeout_ms < 0) return Status::InvalidArgument("Redis " + description_ + ": negative timeout");
  if (broken_) return Status::IOError(broken_reason_);
  if (redisSetTimeout(context_, ToTimeval(timeout_ms)) != REDIS_OK) {
    return Break(context_->err != 0 ? context_->errstr : "cannot set the timeout");
  }
  return Status::Ok();
}

int RedisConnection::fd() const { return context_ != nullptr ? context_->fd : -1; }

}  // namespace chat
