// chatctl: the operator's command-line tool for mosquitto-chat.
//
//   chatctl token  --keys PRIVATE_JWKS --kid KID --sub USER [...]
//   chatctl keygen --out-private FILE --out-public FILE [--kid-prefix NAME]
//   chatctl verify --keys PUBLIC_JWKS --token TOKEN [...]
//   chatctl ctl    --port P (--token T | --keys PRIVATE_JWKS --kid KID) --command NAME [...]
//
// Every subcommand is one row of kCommands: a name, its options and a run
// function. Option parsing is generic (--name VALUE, --name=VALUE, --flag).
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "chat/base64url.h"
#include "chat/env.h"
#include "chat/ids.h"
#include "chat/key_set.h"
#include "chat/status.h"
#include "chat/token_minter.h"
#include "chat/token_verifier.h"

extern "C" {
#include <mosquitto.h>
}

namespace {

using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // the operation failed
constexpr int kExitUsage = 2;    // the command line is wrong

// ---------------------------------------------------------------------------
// Option parsing

struct OptionSpec {
  const char* name;   // without the leading "--"
  const char* value;  // placeholder for the help text; nullptr for a flag
  const char* help;
  bool required;
};

class Args {
 public:
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  void Set(const std::string& name, std::string value) { values_[name] = std::move(value); }

 private:
  std::map<std::string, std::string> values_;
};

struct Command {
  const char* name;
  const char* summary;
  const char* details;  // extra help text, may be empty
  std::vector<OptionSpec> options;
  int (*run)(const Args& args);
};

void PrintCommandHelp(const Command& cmd, std::ostream& out) {
  out << "usage: chatctl " << cmd.name;
  for (const auto& opt : cmd.options) {
    std::string text =
        std::string("--") + opt.name + (opt.value ? std::string(" ") + opt.value : "");
    out << ' ' << (opt.required ? text : "[" + text + "]");
  }
  out << "\n\n" << cmd.summary << "\n";
  if (*cmd.details) out << "\n" << cmd.details << "\n";
  out << "\noptions:\n";
  for (const auto& opt : cmd.options) {
    std::string left =
        std::string("  --") + opt.name + (opt.value ? std::string(" ") + opt.value : "");
    out << left;
    for (size_t i = left.size(); i < 30; ++i) out << ' ';
    out << ' ' << opt.help << "\n";
  }
  out << "  --help                         show this help\n";
}

// Parses argv[first..] against cmd.options. On a usage error prints it and
// returns false with *exit_code set; --help prints help and returns false
// with exit code 0.
bool ParseArgs(const Command& cmd, int argc, char** argv, int first, Args* args, int* exit_code) {
  std::set<std::string> seen;
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintCommandHelp(cmd, std::cout);
      *exit_code = kExitOk;
      return false;
    }
    if (arg.substr(0, 2) != "--" || arg.size() == 2) {
      std::cerr << "chatctl " << cmd.name << ": unexpected argument '" << arg << "' (see chatctl "
                << cmd.name << " --help)\n";
      *exit_code = kExitUsage;
      return false;
    }
    std::string name(arg.substr(2));
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    const OptionSpec* spec = nullptr;
    for (const auto& opt : cmd.options) {
      if (name == opt.name) spec = &opt;
    }
    if (spec == nullptr) {
      std::cerr << "chatctl " << cmd.name << ": unknown option --" << name << " (see chatctl "
                << cmd.name << " --help)\n";
      *exit_code = kExitUsage;
      return false;
    }
    if (!seen.insert(name).second) {
      std::cerr << "chatctl " << cmd.name << ": --" << name << " given twice\n";
      *exit_code = kExitUsage;
      return false;
    }
    if (spec->value == nullptr) {
      if (inline_value) {
        std::cerr << "chatctl " << cmd.name << ": --" << name << " takes no value\n";
        *exit_code = kExitUsage;
        return false;
      }
      args->Set(name, "1");
      continue;
    }
    if (inline_value) {
      args->Set(name, *inline_value);
    } else if (i + 1 < argc) {
      args->Set(name, argv[++i]);
    } else {
      std::cerr << "chatctl " << cmd.name << ": --" << name << " needs a value " << spec->value
                << "\n";
      *exit_code = kExitUsage;
      return false;
    }
  }
  for (const auto& opt : cmd.options) {
    if (opt.required && !args->Has(opt.name)) {
      std::cerr << "chatctl " << cmd.name << ": --" << opt.name << " is required (see chatctl "
                << cmd.name << " --help)\n";
      *exit_code = kExitUsage;
      return false;
    }
  }
  return true;
}

bool ParseInt64(const std::string& text, int64_t* out) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, *out);
  return !text.empty() && ec == std::errc() && ptr == end;
}

// Reads an integer option; prints the error itself.
bool IntOption(const Args& args, const char* cmd, const char* name, int64_t fallback,
               int64_t* out) {
  if (!args.Has(name)) {
    *out = fallback;
    return true;
  }
  if (!ParseInt64(args.Get(name), out)) {
    std::cerr << "chatctl " << cmd << ": --" << name << " must be an integer, not '"
              << args.Get(name) << "'\n";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Files

bool ReadFile(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    *error = "cannot read " + path;
    return false;
  }
  *out = buf.str();
  return true;
}

// Writes `data` to a new file with `mode` (or replaces it when `force`).
bool WriteFile(const std::string& path, const std::string& data, mode_t mode, bool force,
               std::string* error) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    *error = "cannot create " + path + ": " + std::strerror(errno) +
             (errno == EEXIST ? " (use --force to replace it)" : "");
    return false;
  }
  // The umask may have widened nothing but narrowed; an existing file keeps
  // its old mode under O_TRUNC. Either way, set exactly what was asked.
  bool ok = ::fchmod(fd, mode) == 0;
  size_t done = 0;
  while (ok && done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (ok) ok = ::fsync(fd) == 0;
  int saved = errno;
  if (::close(fd) != 0) ok = false;
  if (!ok) *error = "cannot write " + path + ": " + std::strerror(saved ? saved : errno);
  return ok;
}

std::string HexRandom(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  chat::Env::Default()->RandomBytes(buf.data(), buf.size());
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : buf) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// token

int RunToken(const Args& args) {
  const char* cmd = "token";
  int64_t ttl = 0;
  int64_t iat = 0;
  if (!IntOption(args, cmd, "ttl", 60, &ttl)) return kExitUsage;
  if (!IntOption(args, cmd, "iat", chat::Env::Default()->NowMs() / 1000, &iat)) return kExitUsage;
  int64_t exp = 0;
  if (__builtin_add_overflow(iat, ttl, &exp)) {
    std::cerr << "chatctl token: --iat plus --ttl overflows\n";
    return kExitUsage;
  }
  std::string sub = args.Get("sub");
  std::string kid = args.Get("kid");
  std::string jti = args.Has("jti") ? args.Get("jti") : HexRandom(16);
  if (sub.empty() || kid.empty() || jti.empty()) {
    std::cerr << "chatctl token: --sub, --kid and --jti must not be empty\n";
    return kExitUsage;
  }
  // Tokens the broker will refuse are still minted (tests need them), but
  // the operator is told.
  if (!chat::IsValidId(sub)) {
    std::cerr << "chatctl token: warning: sub '" << sub << "' is not a valid user id; "
              << "the broker will refuse this token\n";
  }
  if (ttl <= 0) std::cerr << "chatctl token: warning: --ttl " << ttl << " gives an expired token\n";

  std::string jwks, error;
  if (!ReadFile(args.Get("keys"), &jwks, &error)) {
    std::cerr << "chatctl token: " << error << "\n";
    return kExitFailure;
  }
  json claims = {{"sub", sub}, {"iat", iat}, {"exp", exp}, {"jti", jti}};
  if (args.Has("admin")) claims["role"] = "admin";
  std::string claims_text;
  try {
    claims_text = claims.dump();
  } catch (const json::exception&) {
    std::cerr << "chatctl token: --sub and --jti must be valid UTF-8\n";
    return kExitUsage;
  }
  std::string token;
  chat::Status s = chat::MintToken(jwks, kid, claims_text, &token);
  OPENSSL_cleanse(jwks.data(), jwks.size());
  if (!s.ok()) {
    std::cerr << "chatctl token: " << args.Get("keys") << ": " << s.ToString() << "\n";
    return kExitFailure;
  }
  std::cout << token << "\n";
  return std::cout.flush() ? kExitOk : kExitFailure;
}

// ---------------------------------------------------------------------------
// keygen

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BnClearFree {
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
};

bool ExportBn(EVP_PKEY* pkey, const char* param, std::string* b64) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, param, &raw) != 1) return false;
  std::unique_ptr<BIGNUM, BnClearFree> bn(raw);
  unsigned char buf[32];
  if (BN_bn2binpad(bn.get(), buf, sizeof(buf)) != static_cast<int>(sizeof(buf))) return false;
  *b64 = chat::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(buf), sizeof(buf)));
  OPENSSL_cleanse(buf, sizeof(buf));
  return true;
}

// Mints one token with each private key and checks it against the public set.
bool SelfCheck(const std::string& private_jwks, const std::string& public_jwks,
               const std::vector<std::string>& kids, std::string* error) {
  std::shared_ptr<const chat::KeySet> keys;
  chat::Status s = chat::KeySet::Parse(public_jwks, &keys);
  if (!s.ok()) {
    *error = "generated public JWKS does not parse: " + s.ToString();
    return false;
  }
  int64_t now = chat::Env::Default()->NowMs() / 1000;
  json claims = {{"sub", "keygen-check"}, {"iat", now}, {"exp", now + 60}, {"jti", "keygen-check"}};
  for (const auto& kid : kids) {
    std::string token;
    s = chat::MintToken(private_jwks, kid, claims.dump(), &token);
    chat::TokenClaims out;
    chat::TokenError e = s.ok() ? chat::VerifyToken(token, *keys, chat::TokenPolicy(), now, &out)
                                : chat::TokenError::kMalformed;
    if (!s.ok() || e != chat::TokenError::kNone) {
      *error = "self-check of kid " + kid +
               " failed: " + (s.ok() ? chat::TokenErrorName(e) : s.ToString());
      return false;
    }
  }
  return true;
}

int RunKeygen(const Args& args) {
  std::string prefix = args.Get("kid-prefix", "key1");
  if (!chat::IsValidId(prefix) || prefix.size() > 50) {
    std::cerr << "chatctl keygen: --kid-prefix must be 1 to 50 characters of [A-Za-z0-9_.-]\n";
    return kExitUsage;
  }
  std::string private_path = args.Get("out-private");
  std::string public_path = args.Get("out-public");
  if (private_path == public_path) {
    std::cerr << "chatctl keygen: --out-private and --out-public must differ\n";
    return kExitUsage;
  }

  std::unique_ptr<EVP_PKEY, PkeyFree> ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::string x, y, d;
  if (!ec || !ExportBn(ec.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
      !ExportBn(ec.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y) ||
      !ExportBn(ec.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d)) {
    std::cerr << "chatctl keygen: P-256 key generation failed\n";
    return kExitFailure;
  }
  unsigned char secret[32];
  chat::Env::Default()->RandomBytes(secret, sizeof(secret));
  std::string k = chat::Base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(secret), sizeof(secret)));
  OPENSSL_cleanse(secret, sizeof(secret));

  const std::string es_kid = prefix + "-es256";
  const std::string hs_kid = prefix + "-hs256";
  json ec_public = {{"kty", "EC"},  {"crv", "P-256"}, {"kid", es_kid}, {"alg", "ES256"},
                    {"use", "sig"}, {"x", x},         {"y", y}};
  json ec_private = ec_public;
  ec_private["d"] = d;
  json oct = {{"kty", "oct"}, {"kid", hs_kid}, {"alg", "HS256"}, {"use", "sig"}, {"k", k}};
  std::string private_text = json{{"keys", {ec_private, oct}}}.dump(2) + "\n";
  std::string public_text = json{{"keys", {ec_public, oct}}}.dump(2) + "\n";

  std::string error;
  bool ok = SelfCheck(private_text, public_text, {es_kid, hs_kid}, &error);
  bool force = args.Has("force");
  ok = ok && WriteFile(private_path, private_text, 0600, force, &error) &&
       WriteFile(public_path, public_text, 0600, force, &error);  // holds the HS256 secret
  OPENSSL_cleanse(private_text.data(), private_text.size());
  OPENSSL_cleanse(d.data(), d.size());
  if (!ok) {
    std::cerr << "chatctl keygen: " << error << "\n";
    return kExitFailure;
  }
  std::cerr << "chatctl keygen: wrote " << private_path << " and " << public_path << " with kids "
            << es_kid << ", " << hs_kid << "\n";
  return kExitOk;
}

// ---------------------------------------------------------------------------
// verify

int RunVerify(const Args& args) {
  const char* cmd = "verify";
  chat::TokenPolicy policy;
  int64_t now = 0;
  if (!IntOption(args, cmd, "now", chat::Env::Default()->NowMs() / 1000, &now) ||
      !IntOption(args, cmd, "max-lifetime", policy.max_lifetime_s, &policy.max_lifetime_s) ||
      !IntOption(args, cmd, "leeway", policy.leeway_s, &policy.leeway_s)) {
    return kExitUsage;
  }
  std::string token = args.Get("token");
  if (token == "-") {
    if (!std::getline(std::cin, token)) {
      std::cerr << "chatctl verify: no token on stdin\n";
      return kExitUsage;
    }
  }
  std::string jwks, error;
  if (!ReadFile(args.Get("keys"), &jwks, &error)) {
    std::cerr << "chatctl verify: " << error << "\n";
    return kExitFailure;
  }
  std::shared_ptr<const chat::KeySet> keys;
  chat::Status s = chat::KeySet::Parse(jwks, &keys);
  if (!s.ok()) {
    std::cerr << "chatctl verify: " << args.Get("keys") << ": " << s.ToString() << "\n";
    return kExitFailure;
  }
  chat::TokenClaims claims;
  chat::TokenError e = chat::VerifyToken(token, *keys, policy, now, &claims);
  if (e != chat::TokenError::kNone) {
    std::cerr << "chatctl verify: token refused: " << chat::TokenErrorName(e) << "\n";
    return kExitFailure;
  }
  json out = {{"sub", claims.sub},
              {"jti", claims.jti},
              {"iat", claims.iat},
              {"exp", claims.exp},
              {"admin", claims.admin}};
  std::cout << out.dump() << "\n";
  return kExitOk;
}

// ---------------------------------------------------------------------------
// ctl: one $CONTROL/chat/v1 command, the way mosquitto_ctrl talks to
// dynamic-security: publish {"commands":[...]} and wait for the reply, which
// the plugin sends to this client only.

// Human-readable form of an answer: one "path: value" line per scalar,
// nested keys joined with '.', list items numbered; an empty list or object
// is printed as such.
void PrintReadable(const json& value, const std::string& path, std::ostream& out) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, item] : value.items()) PrintReadable(item, path.empty() ? key : path + "." + key, out);
  } else if (value.is_array() && !value.empty()) {
    for (size_t i = 0; i < value.size(); ++i) PrintReadable(value[i], path + "[" + std::to_string(i) + "]", out);
  } else {
    out << (path.empty() ? "" : path + ": ") << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  }
}

struct ControlSession {
  bool connected = false;
  int connack = -1;
  bool disconnected = false;
  std::optional<std::string> response;
};

int RunControl(const Args& args) {
  const char* cmd = "ctl";
  int64_t port = 0, timeout_s = 0;
  if (!IntOption(args, cmd, "port", 1883, &port) || !IntOption(args, cmd, "timeout", 10, &timeout_s)) return kExitUsage;
  json command = json::object();
  if (args.Has("args")) {
    command = json::parse(args.Get("args"), nullptr, false);
    if (!command.is_object()) {
      std::cerr << "chatctl ctl: --args must be a JSON object\n";
      return kExitUsage;
    }
  }
  command["command"] = args.Get("command");
  for (const char* name : {"channel", "user", "jti", "body", "id", "type"}) {
    if (args.Has(name)) command[name] = args.Get(name);
  }
  for (const char* name : {"after", "limit", "seq"}) {
    if (!args.Has(name)) continue;
    int64_t v = 0;
    if (!IntOption(args, cmd, name, 0, &v) || v < 0) return kExitUsage;
    command[name] = static_cast<uint64_t>(v);
  }
  if (args.Has("doc")) {
    command["doc"] = json::parse(args.Get("doc"), nullptr, false);
    if (!command["doc"].is_object()) {
      std::cerr << "chatctl ctl: --doc must be a JSON object (a channel document)\n";
      return kExitUsage;
    }
  }
  // Who asks: a given token, or an admin token minted here.
  std::string token = args.Get("token");
  std::string user = args.Get("as", "chatctl");
  if (token.empty()) {
    std::string jwks, error;
    if (!args.Has("keys") || !args.Has("kid")) {
      std::cerr << "chatctl ctl: give --token, or --keys and --kid to mint an admin token\n";
      return kExitUsage;
    }
    if (!ReadFile(args.Get("keys"), &jwks, &error)) {
      std::cerr << "chatctl ctl: " << error << "\n";
      return kExitFailure;
    }
    const int64_t now = chat::Env::Default()->NowMs() / 1000;
    json claims = {{"sub", user}, {"iat", now}, {"exp", now + 60}, {"jti", HexRandom(16)}, {"role", "admin"}};
    chat::Status st = chat::MintToken(jwks, args.Get("kid"), claims.dump(), &token);
    OPENSSL_cleanse(jwks.data(), jwks.size());
    if (!st.ok()) {
      std::cerr << "chatctl ctl: " << st.ToString() << "\n";
      return kExitFailure;
    }
  } else if (!args.Has("as")) {
    // MQTT 3.1.1 sends a password only with a username: the token's sub
    // (read, not verified: the broker verifies).
    user.clear();
    const size_t a = token.find('.'), b = token.find('.', a == std::string::npos ? a : a + 1);
    std::string payload;
    if (b != std::string::npos && chat::Base64UrlDecode(std::string_view(token).substr(a + 1, b - a - 1), &payload)) {
      json claims = json::parse(payload, nullptr, false);
      if (claims.is_object() && claims.contains("sub") && claims["sub"].is_string()) user = claims["sub"];
    }
    if (user.empty()) {
      std::cerr << "chatctl ctl: --token is not a JWT with a sub claim\n";
      return kExitUsage;
    }
  }

  mosquitto_lib_init();
  ControlSession session;
  const std::string client_id = "chatctl-" + HexRandom(6);
  struct mosquitto* m = mosquitto_new(client_id.c_str(), true, &session);
  if (m == nullptr) {
    std::cerr << "chatctl ctl: out of memory\n";
    return kExitFailure;
  }
  std::unique_ptr<struct mosquitto, void (*)(struct mosquitto*)> guard(m, mosquitto_destroy);
  mosquitto_username_pw_set(m, user.empty() ? nullptr : user.c_str(), token.c_str());
  mosquitto_connect_callback_set(m, [](struct mosquitto*, void* ud, int rc) {
    auto* s = static_cast<ControlSession*>(ud);
    s->connack = rc;
    s->connected = rc == 0;
  });
  mosquitto_disconnect_callback_set(m, [](struct mosquitto*, void* ud, int) {
    static_cast<ControlSession*>(ud)->disconnected = true;
  });
  mosquitto_message_callback_set(m, [](struct mosquitto*, void* ud, const struct mosquitto_message* msg) {
    if (std::string_view(msg->topic) == "$CONTROL/chat/v1/response") {
      static_cast<ControlSession*>(ud)->response = std::string(static_cast<const char*>(msg->payload), msg->payloadlen);
    }
  });
  const std::string host = args.Get("host", "127.0.0.1");
  int rc = mosquitto_connect(m, host.c_str(), static_cast<int>(port), 30);
  if (rc != MOSQ_ERR_SUCCESS) {
    std::cerr << "chatctl ctl: cannot connect to " << host << ":" << port << ": " << mosquitto_strerror(rc) << "\n";
    return kExitFailure;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  auto pump_until = [&](auto done) {
    while (!done() && !session.disconnected && std::chrono::steady_clock::now() < deadline) {
      if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS) break;
    }
    return done();
  };
  if (!pump_until([&] { return session.connack >= 0; }) || !session.connected) {
    std::cerr << "chatctl ctl: connection refused by " << host << ":" << port
              << (session.connack > 0 ? std::string(" (") + mosquitto_connack_string(session.connack) + ")" : "")
              << "\n";
    return kExitFailure;
  }
  const std::string request = json{{"commands", json::array({command})}}.dump();
  mosquitto_publish(m, nullptr, "$CONTROL/chat/v1", static_cast<int>(request.size()), request.data(), 1, false);
  if (!pump_until([&] { return session.response.has_value(); })) {
    std::cerr << "chatctl ctl: no response within " << timeout_s << " s\n";
    return kExitFailure;
  }
  mosquitto_disconnect(m);
  json reply = json::parse(*session.response, nullptr, false);
  if (!reply.is_object() || !reply.contains("responses") || !reply["responses"].is_array() ||
      reply["responses"].empty()) {
    std::cerr << "chatctl ctl: unexpected response: " << *session.response << "\n";
    return kExitFailure;
  }
  const json& r = reply["responses"][0];
  if (args.Has("json")) {
    std::cout << r.dump() << "\n";
  } else if (r.contains("data")) {
    PrintReadable(r["data"], "", std::cout);
  }
  if (r.contains("error")) {
    std::cerr << "chatctl ctl: " << command["command"].get<std::string>() << ": "
              << (r["error"].is_string() ? r["error"].get<std::string>() : r["error"].dump()) << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------
// Dispatch

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"token",
       "Mint a connect token (compact JWS) and print it on stdout.",
       "The claims are sub, iat, exp = iat + ttl, jti, and role \"admin\" with --admin.",
       {
           {"keys", "PRIVATE_JWKS", "private JWKS file (see chatctl keygen)", true},
           {"kid", "KID", "key to sign with", true},
           {"sub", "USER", "user id (the MQTT username)", true},
           {"ttl", "SECONDS", "lifetime in seconds (default 60)", false},
           {"admin", nullptr, "add the claim role=admin", false},
           {"jti", "JTI", "token id (default: 16 random bytes, hex)", false},
           {"iat", "UNIX_SECONDS", "issue time (default: now)", false},
       },
       RunToken},
      {"keygen",
       "Generate a private and a public JWKS with one ES256 and one HS256 key.",
       "Kids are PREFIX-es256 and PREFIX-hs256. The HS256 secret is symmetric, so it is\n"
       "in both files, and both are written with mode 0600. Drop the oct key from the\n"
       "public file if the broker should accept ES256 only. Existing files are not\n"
       "replaced without --force.",
       {
           {"out-private", "FILE", "private JWKS to write (mode 0600)", true},
           {"out-public", "FILE", "public JWKS to write, for the broker (mode 0600)", true},
           {"kid-prefix", "NAME", "kid prefix (default key1)", false},
           {"force", nullptr, "replace existing files", false},
       },
       RunKeygen},
      {"verify",
       "Verify a token as the broker would (without the single-use check).",
       "Prints the claims as JSON on success; exits 1 with the refusal reason otherwise.",
       {
           {"keys", "PUBLIC_JWKS", "public JWKS file", true},
           {"token", "TOKEN", "the token, or - to read one line from stdin", true},
           {"now", "UNIX_SECONDS", "the time to check against (default: now)", false},
           {"max-lifetime", "SECONDS", "largest accepted exp - iat (default 300)", false},
           {"leeway", "SECONDS", "clock leeway (default 5)", false},
       },
       RunVerify},
      {"ctl",
       "Run one $CONTROL/chat/v1 command on a broker and print its answer.",
       "Commands: listChannels, getChannel, setChannel, deleteChannel, getPresence,\n"
       "getUnread, getHistory, kickUser, revokeToken, getStats, sendMessage,\n"
       "traceMessage.\n"
       "Prints the answer's data as one 'path: value' line per value (--json: the\n"
       "whole response as JSON on one line); an error goes to stderr with exit status 1, as does a refused\n"
       "connection or no answer within --timeout. Without --token, an admin token\n"
       "for --as (default chatctl) is minted from --keys/--kid, valid 60 s.\n"
       "Example: chatctl ctl --port 1883 --keys conf/jwks.private.json --kid demo1-es256 \\\n"
       "           --command sendMessage --channel general --user alice --body hello",
       {
           {"command", "NAME", "the command", true},
           {"host", "HOST", "broker host (default 127.0.0.1)", false},
           {"port", "PORT", "broker port (default 1883)", false},
           {"token", "TOKEN", "an admin connect token", false},
           {"keys", "PRIVATE_JWKS", "mint an admin token with this private JWKS", false},
           {"kid", "KID", "key to mint with", false},
           {"as", "USER", "the admin user of a minted token (default chatctl)", false},
           {"channel", "CHANNEL", "argument channel", false},
           {"user", "USER", "argument user", false},
           {"jti", "JTI", "argument jti (revokeToken)", false},
           {"body", "TEXT", "argument body (sendMessage)", false},
           {"id", "HEX", "argument id (sendMessage, traceMessage)", false},
           {"type", "TYPE", "argument type (sendMessage)", false},
           {"after", "SEQ", "argument after (getHistory)", false},
           {"limit", "N", "argument limit (getHistory)", false},
           {"seq", "SEQ", "argument seq (traceMessage)", false},
           {"doc", "JSON", "argument doc (setChannel): the channel document", false},
           {"args", "JSON", "any other arguments, as a JSON object", false},
           {"json", nullptr, "print the whole response as JSON", false},
           {"timeout", "SECONDS", "how long to wait for the answer (default 10)", false},
       },
       RunControl},
  };
  return kCommands;
}

void PrintMainHelp(std::ostream& out) {
  out << "usage: chatctl <command> [options]\n\ncommands:\n";
  for (const auto& cmd : Commands()) {
    std::string left = std::string("  ") + cmd.name;
    out << left;
    for (size_t i = left.size(); i < 12; ++i) out << ' ';
    out << cmd.summary << "\n";
  }
  out << "\nRun 'chatctl <command> --help' for the options of one command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintMainHelp(std::cerr);
    return kExitUsage;
  }
  std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    PrintMainHelp(std::cout);
    return kExitOk;
  }
  for (const auto& cmd : Commands()) {
    if (name != cmd.name) continue;
    Args args;
    int exit_code = kExitOk;
    if (!ParseArgs(cmd, argc, argv, 2, &args, &exit_code)) return exit_code;
    try {
      return cmd.run(args);
    } catch (const std::exception& e) {
      std::cerr << "chatctl " << cmd.name << ": " << e.what() << "\n";
      return kExitFailure;
    }
  }
  std::cerr << "chatctl: unknown command '" << name << "'\n";
  PrintMainHelp(std::cerr);
  return kExitUsage;
}
