#include "chat/redis_address.h"

#include <cctype>
#include <charconv>

namespace chat {

namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in`; `what` names the part in the error (never its value).
Status PercentDecode(std::string_view in, std::string_view what, std::string* out) {
  std::string decoded;
  decoded.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      decoded.push_back(in[i]);
      continue;
    }
    const bool complete = i + 2 < in.size();
    const int hi = complete ? HexValue(in[i + 1]) : -1;
    const int lo = complete ? HexValue(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("Redis URL: invalid percent escape in the " + std::string(what) +
                                     " (expected %XX with two hex digits)");
    }
    decoded.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  *out = std::move(decoded);
  return Status::Ok();
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

Status ParsePort(std::string_view s, int* port) {
  int value = 0;
  if (!AllDigits(s) || s.size() > 5 || std::from_chars(s.data(), s.data() + s.size(), value).ec != std::errc() ||
      value < 1 || value > 65535) {
    return Status::InvalidArgument("Redis URL: invalid port '" + std::string(s) + "' (expected 1..65535)");
  }
  *port = value;
  return Status::Ok();
}

Status ParseDb(std::string_view s, int* db) {
  int value = 0;
  if (!AllDigits(s) || std::from_chars(s.data(), s.data() + s.size(), value).ec != std::errc()) {
    return Status::InvalidArgument("Redis URL: invalid database number '" + std::string(s) +
                                   "' (expected an integer >= 0)");
  }
  *db = value;
  return Status::Ok();
}

bool HasSpaceOrControl(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= ' ' || c == 0x7f) return true;
  }
  return false;
}

// rest: what follows "redis://".
Status ParseTcp(std::string_view rest, RedisAddress* a) {
  a->unix_socket = false;
  std::string_view hostpart = rest;
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    hostpart = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument("Redis URL: credentials must be written [user]:password@ (no ':' before '@')");
    }
    Status s = PercentDecode(userinfo.substr(0, colon), "user name", &a->username);
    if (!s.ok()) return s;
    s = PercentDecode(userinfo.substr(colon + 1), "password", &a->password);
    if (!s.ok()) return s;
    if (a->password.empty()) return Status::InvalidArgument("Redis URL: empty password before '@'");
  }

  const size_t slash = hostpart.find('/');
  const std::string_view authority = hostpart.substr(0, slash);
  if (authority.find_first_of("?#") != std::string_view::npos) {
    return Status::InvalidArgument("Redis URL: query strings and fragments are not supported in redis:// URLs");
  }
  std::string_view host;
  std::string_view port_part;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("Redis URL: '[' without ']' in the host");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Status::InvalidArgument("Redis URL: unexpected characters after ']' in the host");
      has_port = true;
      port_part = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_part = authority.substr(colon + 1);
      has_port = true;
      if (port_part.find(':') != std::string_view::npos) {
        return Status::InvalidArgument("Redis URL: an IPv6 host must be written in brackets, e.g. [::1]:6379");
      }
    }
  }
  if (host.empty()) return Status::InvalidArgument("Redis URL: missing host");
  // Decoded, so an IPv6 zone can be written [fe80::1%25eth0].
  Status s = PercentDecode(host, "host", &a->host);
  if (!s.ok()) return s;
  if (HasSpaceOrControl(a->host) || a->host.find_first_of("[]@/") != std::string::npos) {
    return Status::InvalidArgument("Redis URL: invalid host '" + std::string(host) + "'");
  }
  if (has_port) {
    s = ParsePort(port_part, &a->port);
    if (!s.ok()) return s;
  }
  if (slash != std::string_view::npos) {
    const std::string_view db = hostpart.substr(slash + 1);
    if (!db.empty()) return ParseDb(db, &a->db);
  }
  return Status::Ok();
}

// rest: what follows "unix://".
Status ParseUnix(std::string_view rest, RedisAddress* a) {
  a->unix_socket = true;
  const size_t q = rest.find('?');
  Status s = PercentDecode(rest.substr(0, q), "socket path", &a->path);
  if (!s.ok()) return s;
  if (a->path.empty()) return Status::InvalidArgument("Redis URL: empty unix socket path (unix:///path/to/redis.sock)");
  if (a->path[0] != '/') {
    return Status::InvalidArgument("Redis URL: the unix socket path must be absolute (unix:///path/to/redis.sock)");
  }
  if (q == std::string_view::npos) return Status::Ok();

  std::string_view query = rest.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty()) continue;
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) {
      // Not echoed: it could be a password with its '=' forgotten.
      return Status::InvalidArgument("Redis URL: a unix:// query parameter has no '=' (expected name=value)");
    }
    const std::string_view name = param.substr(0, eq);
    const std::string_view value = param.substr(eq + 1);
    if (name == "db") {
      s = ParseDb(value, &a->db);
    } else if (name == "password") {
      s = PercentDecode(value, "password", &a->password);
      if (s.ok() && a->password.empty()) s = Status::InvalidArgument("Redis URL: empty password parameter");
    } else if (name == "username") {
      s = PercentDecode(value, "user name", &a->username);
    } else {
      s = Status::InvalidArgument("Redis URL: unknown parameter '" + std::string(name) +
                                  "' in a unix:// URL (expected db, password, username)");
    }
    if (!s.ok()) return s;
  }
  if (!a->username.empty() && a->password.empty()) {
    return Status::InvalidArgument("Redis URL: a username needs a password");
  }
  return Status::Ok();
}

}  // namespace

Status ParseRedisUrl(std::string_view url, RedisAddress* out) {
  RedisAddress a;
  Status s;
  if (StartsWithNoCase(url, "redis://")) {
    s = ParseTcp(url.substr(8), &a);
  } else if (StartsWithNoCase(url, "unix://")) {
    s = ParseUnix(url.substr(7), &a);
  } else if (StartsWithNoCase(url, "rediss://")) {
    s = Status::InvalidArgument("Redis URL: TLS (rediss://) is not supported");
  } else {
    const size_t sep = url.find("://");
    s = Status::InvalidArgument(
        sep == std::string_view::npos
            ? std::string("Redis URL: missing scheme (expected redis://host:port/db or unix:///path)")
            : "Redis URL: unsupported scheme '" + std::string(url.substr(0, sep)) + "' (expected redis:// or unix://)");
  }
  if (!s.ok()) return s;
  *out = std::move(a);
  return Status::Ok();
}

std::string DescribeRedisAddress(const RedisAddress& a) {
  if (a.unix_socket) {
    std::string out = "unix://" + a.path + " (db " + std::to_string(a.db);
    if (!a.username.empty()) out += ", user " + a.username;
    return out + ")";
  }
  std::string out = "redis://";
  if (!a.username.empty()) out += a.username + "@";
  if (a.host.find(':') != std::string::npos) {
    out += "[" + a.host + "]";
  } else {
    out += a.host;
  }
  return out + ":" + std::to_string(a.port) + "/" + std::to_string(a.db);
}

}  // namespace chat
