// The Redis client layer (RedisAddress, RedisConnection, RedisScript) against a
// real redis-server started by RedisServerFixture.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "chat/redis_address.h"
#include "chat/redis_connection.h"
#include "chat/redis_script.h"
#include "cmocka_wrap.h"
#include "redis_server_fixture.h"

namespace {

using chat::ParseRedisUrl;
using chat::RedisAddress;
using chat::RedisConnection;
using chat::RedisScript;
using chat::RedisValue;
using chat::Status;
using chat_test::RedisServerFixture;
using chat_test::RedisServerOptions;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 2000;

int64_t MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Starts the server or fails the test with the fixture's reason.
void StartOrFail(RedisServerFixture* redis) {
  if (!redis->Start()) fail_msg("cannot start redis-server: %s", redis->error().c_str());
}

std::unique_ptr<RedisConnection> ConnectUrl(const std::string& url, int timeout_ms = kTimeoutMs) {
  RedisAddress address;
  Status s = ParseRedisUrl(url, &address);
  if (!s.ok()) fail_msg("%s", s.ToString().c_str());
  std::unique_ptr<RedisConnection> conn;
  s = RedisConnection::Connect(address, timeout_ms, &conn);
  if (!s.ok()) fail_msg("%s", s.ToString().c_str());
  return conn;
}

void ExpectStatusReply(const RedisValue& v, const char* text) {
  assert_int_equal(static_cast<int>(v.type), static_cast<int>(RedisValue::Type::kStatus));
  assert_string_equal(v.str.c_str(), text);
}

// A port on 127.0.0.1 with nothing listening (bound, read, closed).
int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  assert_int_equal(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  assert_int_equal(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------- URLs

void test_parse_tcp_urls(void**) {
  RedisAddress a;
  assert_true(ParseRedisUrl("redis://127.0.0.1", &a).ok());
  assert_false(a.unix_socket);
  assert_string_equal(a.host.c_str(), "127.0.0.1");
  assert_int_equal(a.port, 6379);
  assert_int_equal(a.db, 0);
  assert_true(a.username.empty());
  assert_true(a.password.empty());

  a = RedisAddress();
  assert_true(ParseRedisUrl("redis://redis.internal:6380/3", &a).ok());
  assert_string_equal(a.host.c_str(), "redis.internal");
  assert_int_equal(a.port, 6380);
  assert_int_equal(a.db, 3);

  a = RedisAddress();
  assert_true(ParseRedisUrl("REDIS://h:1/", &a).ok());
  assert_string_equal(a.host.c_str(), "h");
  assert_int_equal(a.port, 1);
  assert_int_equal(a.db, 0);

  a = RedisAddress();
  assert_true(ParseRedisUrl("redis://h:65535/0", &a).ok());
  assert_int_equal(a.port, 65535);

  a = RedisAddress();
  assert_true(ParseRedisUrl("redis://:secret@h:7000/2", &a).ok());
  assert_true(a.username.empty());
  assert_string_equal(a.password.c_str(), "secret");
  assert_string_equal(a.host.c_str(), "h");
  assert_int_equal(a.port, 7000);
  assert_int_equal(a.db, 2);

  // Percent-decoding of user and password.
  a = RedisAddress();
  assert_true(ParseRedisUrl("redis://al%69ce:p%40ss%3Aw%2F0rd%25@h", &a).ok());
  assert_string_equal(a.username.c_str(), "alice");
  assert_string_equal(a.password.c_str(), "p@ss:w/0rd%");

  // Raw '@', ':' and '/' in a password: the credentials end at the last '@'.
  a = RedisAddress();
  assert_true(ParseRedisUrl("redis://u:a@b:c/d@h:9/4", &a).ok());
  assert_string_equal(a.username.c_str(), "u");
  assert_string_equal(a.password.c_str(), "a@b:c/d");
  assert_string_equal(a.host.c_str(), "h");
  assert_int_equal(a.port, 9);
  assert_int_equal(a.db, 4);

  // IPv6 in brackets.
  a = RedisAddress();
  assert_true(ParseRedisUrl("redis://[::1]:7001/5", &a).ok());
  assert_string_equal(a.host.c_str(), "::1");
  assert_int_equal(a.port, 7001);
  assert_int_equal(a.db, 5);
  a = RedisAddress();
  assert_true(ParseRedisUrl("redis://[fe80::1%25eth0]", &a).ok());
  assert_string_equal(a.host.c_str(), "fe80::1%eth0");
  assert_int_equal(a.port, 6379);
}

void test_parse_unix_urls(void**) {
  RedisAddress a;
  assert_true(ParseRedisUrl("unix:///tmp/r.sock", &a).ok());
  assert_true(a.unix_socket);
  assert_string_equal(a.path.c_str(), "/tmp/r.sock");
  assert_int_equal(a.db, 0);
  assert_true(a.password.empty());

  a = RedisAddress();
  assert_true(ParseRedisUrl("unix:///var/run/redis/redis%20server.sock?db=7&password=p%26w%3Dx", &a).ok());
  assert_true(a.unix_socket);
  assert_string_equal(a.path.c_str(), "/var/run/redis/redis server.sock");
  assert_int_equal(a.db, 7);
  assert_string_equal(a.password.c_str(), "p&w=x");

  a = RedisAddress();
  assert_true(ParseRedisUrl("UNIX:///s?password=pw&username=bob&", &a).ok());
  assert_string_equal(a.username.c_str(), "bob");
  assert_string_equal(a.password.c_str(), "pw");
}

void test_parse_bad_urls(void**) {
  const char* const kBad[] = {
      "",
      "127.0.0.1:6379",
      "http://h",
      "rediss://h",
      "redis://",
      "redis://:6379",
      "redis:///3",
      "redis://h:0",
      "redis://h:65536",
      "redis://h:-1",
      "redis://h:abc",
      "redis://h:",
      "redis://h:+80",
      "redis://h:123456",
      "redis://h/x",
      "redis://h/-1",
      "redis://h/1.5",
      "redis://h/99999999999",
      "redis://h/1/2",
      "redis://h?db=1",
      "redis://h#x",
      "redis://[::1",
      "redis://[::1]x",
      "redis://[]:6379",
      "redis://::1:6379",
      "redis://h:1:2",
      "redis://h x",
      "redis://sekrit@h",
      "redis://:@h",
      "redis://u:@h",
      "redis://:sekrit%4@h",
      "redis://:sekrit%zz@h",
      "redis://:sekrit%@h",
      "unix://",
      "unix://relative.sock",
      "unix://?db=1",
      "unix:///s.sock?db=x",
      "unix:///s.sock?db=",
      "unix:///s.sock?db",
      "unix:///s.sock?foo=1",
      "unix:///s.sock?password=",
      "unix:///s.sock?password=sekrit%g0",
      "unix:///s.sock?username=u",
  };
  for (const char* url : kBad) {
    RedisAddress a;
    a.host = "untouched";
    const Status s = ParseRedisUrl(url, &a);
    if (s.ok() || s.code() != Status::Code::kInvalidArgument) fail_msg("accepted or wrong code: '%s'", url);
    assert_false(s.message().empty());
    // The message never echoes a password, and `out` is left alone.
    if (Contains(s.message(), "sekrit")) fail_msg("'%s' -> %s", url, s.message().c_str());
    assert_string_equal(a.host.c_str(), "untouched");
  }
  // Messages name what is wrong.
  RedisAddress a;
  assert_true(Contains(ParseRedisUrl("redis://h:70000", &a).message(), "port"));
  assert_true(Contains(ParseRedisUrl("redis://h/abc", &a).message(), "database"));
  assert_true(Contains(ParseRedisUrl("http://h", &a).message(), "scheme"));
  assert_true(Contains(ParseRedisUrl("rediss://h", &a).message(), "TLS"));
}

void test_describe_hides_password(void**) {
  RedisAddress a;
  assert_true(ParseRedisUrl("redis://:sekrit@10.0.0.5:6380/2", &a).ok());
  assert_string_equal(chat::DescribeRedisAddress(a).c_str(), "redis://10.0.0.5:6380/2");
  assert_true(ParseRedisUrl("redis://alice:sekrit@[::1]", &a).ok());
  assert_string_equal(chat::DescribeRedisAddress(a).c_str(), "redis://alice@[::1]:6379/0");
  assert_true(ParseRedisUrl("unix:///tmp/r.sock?password=sekrit", &a).ok());
  assert_string_equal(chat::DescribeRedisAddress(a).c_str(), "unix:///tmp/r.sock (db 0)");
  assert_true(ParseRedisUrl("unix:///tmp/r.sock?db=3", &a).ok());
  assert_string_equal(chat::DescribeRedisAddress(a).c_str(), "unix:///tmp/r.sock (db 3)");
  RedisAddress defaults;
  assert_string_equal(chat::DescribeRedisAddress(defaults).c_str(), "redis://127.0.0.1:6379/0");
}

// ---------------------------------------------------------------- connecting

void test_connect_tcp(void**) {
  RedisServerFixture redis;
  StartOrFail(&redis);
  auto conn = ConnectUrl(redis.url());
  assert_true(conn->fd() >= 0);
  assert_false(conn->broken());
  RedisValue v;
  assert_true(conn->Command({"PING"}, &v).ok());
  ExpectStatusReply(v, "PONG");
  assert_true(conn->Command({"SET", "k", "v"}, &v).ok());
  ExpectStatusReply(v, "OK");
  assert_true(conn->Command({"GET", "k"}, &v).ok());
  assert_int_equal(static_cast<int>(v.type), static_cast<int>(RedisValue::Type::kString));
  assert_string_equal(v.str.c_str(), "v");
  assert_true(Contains(conn->description(), "127.0.0.1:" + std::to_string(redis.port())));
}

void test_connect_unix_socket(void**) {
  RedisServerFixture redis({.unix_socket = true});
  StartOrFail(&redis);
  assert_false(redis.unix_path().empty());
  auto conn = ConnectUrl("unix://" + redis.unix_path());
  RedisValue v;
  assert_true(conn->Command({"SET", "via", "unix"}, &v).ok());
  // Same server over TCP.
  auto tcp = ConnectUrl(redis.url());
  assert_true(tcp->Command({"GET", "via"}, &v).ok());
  assert_string_equal(v.str.c_str(), "unix");

  // A socket path where nothing listens.
  RedisAddress nowhere;
  assert_true(ParseRedisUrl("unix://" + redis.dir() + "/nothing.sock", &nowhere).ok());
  std::unique_ptr<RedisConnection> none;
  const Status s = RedisConnection::Connect(nowhere, kTimeoutMs, &none);
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Status::Code::kIOError));
  assert_true(Contains(s.message(), "nothing.sock"));
  assert_null(none.get());
}

void test_auth(void**) {
  const std::string password = "s3cr:t@x/y%z";
  RedisServerFixture redis({.unix_socket = true, .password = password});
  StartOrFail(&redis);

  RedisValue v;
  auto conn = ConnectUrl(redis.url());
  assert_true(conn->Command({"PING"}, &v).ok());
  ExpectStatusReply(v, "PONG");
  auto unix_conn = ConnectUrl(redis.unix_url());
  assert_true(unix_conn->Command({"PING"}, &v).ok());
  ExpectStatusReply(v, "PONG");

  // Wrong password: IOError naming the address, never a password.
  RedisAddress wrong;
  assert_true(ParseRedisUrl("redis://:wrongpw@127.0.0.1:" + std::to_string(redis.port()), &wrong).ok());
  std::unique_ptr<RedisConnection> none;
  Status s = RedisConnection::Connect(wrong, kTimeoutMs, &none);
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Status::Code::kIOError));
  assert_true(Contains(s.message(), "127.0.0.1:" + std::to_string(redis.port())));
  assert_true(Contains(s.message(), "AUTH"));
  assert_false(Contains(s.message(), "wrongpw"));
  assert_null(none.get());

  // No password: connects, but commands get a NOAUTH error reply (not a Status error).
  auto anonymous = ConnectUrl("redis://127.0.0.1:" + std::to_string(redis.port()));
  assert_true(anonymous->Command({"GET", "k"}, &v).ok());
  assert_true(v.is_error());
  assert_true(Contains(v.str, "NOAUTH"));
  assert_false(anonymous->broken());

  // An ACL user: AUTH user password.
  assert_true(conn->Command({"ACL", "SETUSER", "alice", "on", ">alice pw", "~*", "+@all"}, &v).ok());
  ExpectStatusReply(v, "OK");
  auto alice = ConnectUrl("redis://alice:alice%20pw@127.0.0.1:" + std::to_string(redis.port()));
  assert_true(alice->Command({"ACL", "WHOAMI"}, &v).ok());
  assert_string_equal(v.str.c_str(), "alice");
  RedisAddress bad_alice;
  assert_true(ParseRedisUrl("redis://alice:nope@127.0.0.1:" + std::to_string(redis.port()), &bad_alice).ok());
  s = RedisConnection::Connect(bad_alice, kTimeoutMs, &none);
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Status::Code::kIOError));
}

void test_select_db(void**) {
  RedisServerFixture redis;
  StartOrFail(&redis);
  RedisValue v;
  auto db3 = ConnectUrl(redis.url() + "/3");
  assert_true(db3->Command({"SET", "k", "in3"}, &v).ok());
  auto db0 = ConnectUrl(redis.url() + "/0");
  assert_true(db0->Command({"GET", "k"}, &v).ok());
  assert_true(v.is_nil());
  auto again3 = ConnectUrl(redis.url() + "/3");
  assert_true(again3->Command({"GET", "k"}, &v).ok());
  assert_string_equal(v.str.c_str(), "in3");

  // A db the server does not have: Connect fails.
  RedisAddress a;
  assert_true(ParseRedisUrl(redis.url() + "/99", &a).ok());
  std::unique_ptr<RedisConnection> none;
  const Status s = RedisConnection::Connect(a, kTimeoutMs, &none);
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Status::Code::kIOError));
  assert_true(Contains(s.message(), "SELECT"));

  // A timeout <= 0 is refused.
  a.db = 0;
  assert_int_equal(static_cast<int>(RedisConnection::Connect(a, 0, &none).code()),
                   static_cast<int>(Status::Code::kInvalidArgument));
}

// ---------------------------------------------------------------- commands

void test_binary_safe_values(void**) {
  RedisServerFixture redis;
  StartOrFail(&redis);
  auto conn = ConnectUrl(redis.url());
  std::string value("a\0b\r\n$3\r\n\xff\x00", 12);
  for (int i = 0; i < 256; ++i) value.push_back(static_cast<char>(i));
  const std::string key("k\0ey", 4);
  RedisValue v;
  assert_true(conn->Command({"SET", key, value}, &v).ok());
  ExpectStatusReply(v, "OK");
  assert_true(conn->Command({"GET", key}, &v).ok());
  assert_int_equal(static_cast<int>(v.type), static_cast<int>(RedisValue::Type::kString));
  assert_int_equal(v.str.size(), value.size());
  assert_true(v.str == value);
  assert_true(conn->Command({"STRLEN", key}, &v).ok());
  assert_int_equal(v.integer, 12 + 256);
  // The key without its \0 is another key.
  assert_true(conn->Command({"EXISTS", "k"}, &v).ok());
  assert_int_equal(v.integer, 0);
  // Empty strings are values too.
  assert_true(conn->Command({"SET", "", ""}, &v).ok());
  assert_true(conn->Command({"GET", ""}, &v).ok());
  assert_int_equal(static_cast<int>(v.type), static_cast<int>(RedisValue::Type::kString));
  assert_true(v.str.empty());
}

void test_reply_types(void**) {
  RedisServerFixture redis;
  StartOrFail(&redis);
  auto conn = ConnectUrl(redis.url());
  RedisValue v;
  assert_true(conn->Command({"GET", "missing"}, &v).ok());
  assert_true(v.is_nil());
  assert_true(conn->Command({"RPUSH", "list", "a", "b", "c"}, &v).ok());
  assert_int_equal(static_cast<int>(v.type), static_cast<int>(RedisValue::Type::kInteger));
  assert_int_equal(v.integer, 3);
  assert_true(conn->Command({"LRANGE", "list", "0", "-1"}, &v).ok());
  assert_int_equal(static_cast<int>(v.type), static_cast<int>(RedisValue::Type::kArray));
  assert_int_equal(v.elements.size(), 3);
  assert_string_equal(v.elements[2].str.c_str(), "c");
  assert_true(conn->Command({"LRANGE", "nolist", "0", "-1"}, &v).ok());
  assert_int_equal(static_cast<int>(v.type), static_cast<int>(RedisValue::Type::kArray));
  assert_true(v.elements.empty());
  // Nested arrays, negative integers, and a nil inside an array.
  assert_true(conn->Command({"EVAL", "return {-5, {'x', {7}}, false}", "0"}, &v).ok());
  assert_int_equal(v.elements.size(), 3);
  assert_int_equal(v.elements[0].integer, -5);
  assert_string_equal(v.elements[1].elements[0].str.c_str(), "x");
  assert_int_equal(v.elements[1].elements[1].elements[0].integer, 7);
  assert_true(v.elements[2].is_nil());
  // An error reply is a value, and the connection stays usable.
  assert_true(conn->Command({"NOSUCHCOMMAND"}, &v).ok());
  assert_true(v.is_error());
  assert_true(Contains(v.str, "ERR"));
  assert_false(conn->broken());
  assert_true(conn->Command({"PING"}, &v).ok());
  ExpectStatusReply(v, "PONG");
}

void test_pipelining(void**) {
  RedisServerFixture redis;
  StartOrFail(&redis);
  auto conn = ConnectUrl(redis.url());
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) conn->Append({"INCR", "counter"});
  for (int i = 0; i < kCount; ++i) {
    RedisValue v;
    assert_true(conn->GetReply(&v).ok());
    assert_int_equal(static_cast<int>(v.type), static_cast<int>(RedisValue::Type::kInteger));
    assert_int_equal(v.integer, i + 1);
  }
  // An error in the middle of a pipeline does not disturb the order.
  conn->Append({"SET", "text", "abc"});
  conn->Append({"INCR", "text"});
  conn->Append({"INCR", "counter"});
  RedisValue v;
  assert_true(conn->GetReply(&v).ok());
  ExpectStatusReply(v, "OK");
  assert_true(conn->GetReply(&v).ok());
  assert_true(v.is_error());
  assert_true(conn->GetReply(&v).ok());
  assert_int_equal(v.integer, kCount + 1);
  assert_false(conn->broken());
}

void test_script(void**) {
  // SHA1 of the empty string, a known vector.
  assert_string_equal(RedisScript("empty", "").sha1().c_str(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");

  RedisServerFixture redis;
  StartOrFail(&redis);
  auto conn = ConnectUrl(redis.url());
  const RedisScript script("incr_by", "return redis.call('INCRBY', KEYS[1], ARGV[1])");
  assert_string_equal(script.name().c_str(), "incr_by");
  assert_int_equal(script.sha1().size(), 40);
  const std::vector<std::string> argv = script.EvalShaArgv({"n"}, {"5"});
  assert_int_equal(argv.size(), 5);
  assert_string_equal(argv[0].c_str(), "EVALSHA");
  assert_string_equal(argv[2].c_str(), "1");

  RedisValue v;
  assert_true(conn->Command(argv, &v).ok());
  assert_true(chat::IsNoScript(v));
  assert_false(conn->broken());

  assert_true(conn->Command(script.LoadArgv(), &v).ok());
  assert_int_equal(static_cast<int>(v.type), static_cast<int>(RedisValue::Type::kString));
  assert_string_equal(v.str.c_str(), script.sha1().c_str());

  assert_true(conn->Command(argv, &v).ok());
  assert_int_equal(v.integer, 5);
  assert_true(conn->Command(script.EvalShaArgv({"n"}, {"2"}), &v).ok());
  assert_int_equal(v.integer, 7);
  assert_false(chat::IsNoScript(v));

  // Other errors are not NOSCRIPT.
  assert_true(conn->Command({"EVALSHA", script.sha1(), "1", "n", "notanumber"}, &v).ok());
  assert_true(v.is_error());
  assert_false(chat::IsNoScript(v));
  RedisValue status;
  status.type = RedisValue::Type::kStatus;
  status.str = "NOSCRIPT";
  assert_false(chat::IsNoScript(status));

  // After SCRIPT FLUSH the server forgets it again.
  assert_true(conn->Command({"SCRIPT", "FLUSH"}, &v).ok());
  assert_true(conn->Command(argv, &v).ok());
  assert_true(chat::IsNoScript(v));
}

void test_subscriber_waits_forever(void**) {
  RedisServerFixture redis;
  StartOrFail(&redis);
  auto sub = ConnectUrl(redis.url(), 100);
  RedisValue v;
  assert_true(sub->Command({"SUBSCRIBE", "news"}, &v).ok());
  assert_int_equal(v.elements.size(), 3);
  assert_true(sub->SetTimeout(0).ok());
  assert_int_equal(static_cast<int>(sub->SetTimeout(-1).code()), static_cast<int>(Status::Code::kInvalidArgument));

  // Published well after the 100 ms the connection was opened with.
  std::atomic<bool> published{false};
  std::thread publisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    RedisAddress a;
    std::unique_ptr<RedisConnection> pub;
    if (ParseRedisUrl(redis.url(), &a).ok() && RedisConnection::Connect(a, kTimeoutMs, &pub).ok()) {
      RedisValue r;
      published = pub->Command({"PUBLISH", "news", "hello"}, &r).ok() && r.integer == 1;
    }
  });
  const Status s = sub->GetReply(&v);
  publisher.join();
  assert_true(s.ok());
  assert_true(published.load());
  assert_int_equal(v.elements.size(), 3);
  assert_string_equal(v.elements[0].str.c_str(), "message");
  assert_string_equal(v.elements[2].str.c_str(), "hello");
}

// ---------------------------------------------------------------- failures

void test_server_killed(void**) {
  RedisServerFixture redis;
  StartOrFail(&redis);
  auto conn = ConnectUrl(redis.url());
  RedisValue v;
  assert_true(conn->Command({"PING"}, &v).ok());
  redis.Kill();

  Status s = conn->Command({"PING"}, &v);
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Status::Code::kIOError));
  assert_true(conn->broken());
  assert_true(Contains(s.message(), "127.0.0.1:" + std::to_string(redis.port())));
  const std::string first = s.message();

  // Every later call fails fast with the same error, without SIGPIPE.
  const auto start = Clock::now();
  for (int i = 0; i < 100; ++i) {
    conn->Append({"SET", "k", std::string(100000, 'x')});
    s = conn->GetReply(&v);
    assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Status::Code::kIOError));
    assert_string_equal(s.message().c_str(), first.c_str());
  }
  assert_false(conn->SetTimeout(100).ok());
  assert_true(MillisSince(start) < 500);
}

void test_write_to_dead_server_no_sigpipe(void**) {
  RedisServerFixture redis;
  StartOrFail(&redis);
  auto conn = ConnectUrl(redis.url());
  RedisValue v;
  assert_true(conn->Command({"PING"}, &v).ok());
  redis.Kill();
  // Large writes into a socket the peer reset: EPIPE, not a dead test process.
  Status s;
  for (int i = 0; i < 5 && s.ok(); ++i) {
    for (int j = 0; j < 50; ++j) conn->Append({"SET", "k", std::string(100000, 'y')});
    s = conn->GetReply(&v);
  }
  assert_false(s.ok());
  assert_true(conn->broken());
}

void test_read_timeout(void**) {
  RedisServerFixture redis;
  StartOrFail(&redis);
  auto conn = ConnectUrl(redis.url(), 300);
  RedisValue v;
  assert_true(conn->Command({"PING"}, &v).ok());
  redis.Freeze();
  const auto start = Clock::now();
  const Status s = conn->Command({"PING"}, &v);
  const int64_t elapsed = MillisSince(start);
  redis.Thaw();
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Status::Code::kIOError));
  assert_true(Contains(s.message(), "timed out"));
  assert_true(conn->broken());
  assert_true(elapsed >= 250);
  assert_true(elapsed < 3000);
  // The server itself is fine; a new connection works.
  auto fresh = ConnectUrl(redis.url());
  assert_true(fresh->Command({"PING"}, &v).ok());
}

void test_connect_refused(void**) {
  const int port = UnusedPort();
  RedisAddress a;
  assert_true(ParseRedisUrl("redis://127.0.0.1:" + std::to_string(port), &a).ok());
  std::unique_ptr<RedisConnection> conn;
  const auto start = Clock::now();
  const Status s = RedisConnection::Connect(a, 1000, &conn);
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Status::Code::kIOError));
  assert_true(MillisSince(start) < 1500);
  assert_true(Contains(s.message(), "127.0.0.1:" + std::to_string(port)));
  assert_null(conn.get());
}

void test_connect_timeout(void**) {
  // A listener whose accept queue is full: the kernel drops further SYNs, so a
  // connect can only time out.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  assert_int_equal(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  assert_int_equal(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  assert_int_equal(listen(listener, 0), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  RedisAddress a;
  assert_true(ParseRedisUrl("redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), &a).ok());
  std::unique_ptr<RedisConnection> conn;
  const auto start = Clock::now();
  const Status s = RedisConnection::Connect(a, 300, &conn);
  const int64_t elapsed = MillisSince(start);
  for (int fd : fillers) close(fd);
  close(listener);
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Status::Code::kIOError));
  assert_true(elapsed >= 250);
  assert_true(elapsed < 3000);
  assert_null(conn.get());
}

// ---------------------------------------------------------------- the fixture

void test_fixture_restart_keeps_aof_data(void**) {
  RedisServerFixture redis({.extra_args = {"--appendonly", "yes", "--appendfsync", "always"}});
  StartOrFail(&redis);
  const int port = redis.port();
  const pid_t first_pid = redis.pid();
  {
    auto conn = ConnectUrl(redis.url());
    RedisValue v;
    assert_true(conn->Command({"SET", "durable", "yes"}, &v).ok());
    ExpectStatusReply(v, "OK");
  }
  redis.Kill();
  assert_false(redis.running());
  if (!redis.Restart()) fail_msg("restart: %s", redis.error().c_str());
  assert_int_equal(redis.port(), port);
  assert_true(redis.pid() != first_pid);
  auto conn = ConnectUrl(redis.url());
  RedisValue v;
  assert_true(conn->Command({"GET", "durable"}, &v).ok());
  assert_string_equal(v.str.c_str(), "yes");
  assert_true(conn->Command({"CONFIG", "GET", "bind"}, &v).ok());
  assert_string_equal(v.elements[1].str.c_str(), "127.0.0.1");
}

void test_fixture_cleans_up(void**) {
  std::string dir;
  pid_t pid = -1;
  {
    RedisServerFixture redis;
    StartOrFail(&redis);
    dir = redis.dir();
    pid = redis.pid();
    assert_int_equal(access(dir.c_str(), F_OK), 0);
    assert_int_equal(kill(pid, 0), 0);
  }
  assert_int_equal(access(dir.c_str(), F_OK), -1);
  assert_int_equal(kill(pid, 0), -1);  // reaped: no such process
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_tcp_urls),
      cmocka_unit_test(test_parse_unix_urls),
      cmocka_unit_test(test_parse_bad_urls),
      cmocka_unit_test(test_describe_hides_password),
      cmocka_unit_test(test_connect_tcp),
      cmocka_unit_test(test_connect_unix_socket),
      cmocka_unit_test(test_auth),
      cmocka_unit_test(test_select_db),
      cmocka_unit_test(test_binary_safe_values),
      cmocka_unit_test(test_reply_types),
      cmocka_unit_test(test_pipelining),
      cmocka_unit_test(test_script),
      cmocka_unit_test(test_subscriber_waits_forever),
      cmocka_unit_test(test_server_killed),
      cmocka_unit_test(test_write_to_dead_server_no_sigpipe),
      cmocka_unit_test(test_read_timeout),
      cmocka_unit_test(test_connect_refused),
      cmocka_unit_test(test_connect_timeout),
      cmocka_unit_test(test_fixture_restart_keeps_aof_data),
      cmocka_unit_test(test_fixture_cleans_up),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
