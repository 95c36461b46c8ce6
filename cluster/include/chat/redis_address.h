// RedisAddress: where a Redis server is and how to log in, parsed from a URL.
#pragma once

#include <string>
#include <string_view>

#include "chat/status.h"

namespace chat {

struct RedisAddress {
  bool unix_socket = false;
  std::string host = "127.0.0.1";  // TCP only; an IPv6 address without brackets
  int port = 6379;                 // TCP only
  std::string path;                // unix socket only
  std::string username;            // empty: no ACL user (AUTH password only)
  std::string password;            // empty: no AUTH
  int db = 0;
};

// Accepted forms (scheme case-insensitive):
//   redis://[[user]:password@]host[:port][/db]     host may be [ipv6]
//   unix:///path/to/redis.sock[?db=N&password=PW&username=U]
// User, password, path and query values are percent-decoded (%40 -> @). In a
// redis:// URL the credentials end at the last '@', so a raw '@' or '/' in a
// password is tolerated. Anything else wrong (scheme, port outside 1..65535, db
// not an integer >= 0, empty host or path, ...) is InvalidArgument with a
// message that never contains the password. `out` is written only on success.
Status ParseRedisUrl(std::string_view url, RedisAddress* out);

// For logs; never contains the password: "redis://127.0.0.1:6379/0",
// "redis://alice@[::1]:6379/2" or "unix:///tmp/r.sock (db 0)".
std::string DescribeRedisAddress(const RedisAddress& a);

}  // namespace chat
