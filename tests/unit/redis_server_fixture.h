// RedisServerFixture: a real redis-server for a test, listening on 127.0.0.1
// only (plus, on request, a unix socket) on a free port, with its own temporary
// directory. Header-only; needs no library of the project.
//
//   chat_test::RedisServerFixture redis({.extra_args = {"--appendonly", "yes"}});
//   assert_true(redis.Start());        // false: redis.error() says why (log tail included)
//   ... connect to redis.url() ...
//   redis.Kill(); assert_true(redis.Restart());   // same port, same dir: AOF data survives
//
// A missing redis-server is a Start() failure, never a skip. The server gets
// SIGKILL when the thread that started it exits (PR_SET_PDEATHSIG), so an
// aborted test leaves no process behind; start it from the test's main thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace chat_test {

struct RedisServerOptions {
  // Appended after the fixture's own arguments, so they win; e.g.
  // {"--appendonly", "yes", "--appendfsync", "always"}.
  std::vector<std::string> extra_args = {};
  // Also listen on <dir>/redis.sock (--unixsocketperm 700); see unix_path().
  bool unix_socket = false;
  // --requirepass; url() and unix_url() carry it.
  std::string password = {};
};

class RedisServerFixture {
 public:
  explicit RedisServerFixture(RedisServerOptions options = {}) : options_(std::move(options)) {}
  ~RedisServerFixture() {
    Kill();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }
  RedisServerFixture(const RedisServerFixture&) = delete;
  RedisServerFixture& operator=(const RedisServerFixture&) = delete;

  // Starts the server and waits (up to 10 s) until it answers PING. The first
  // start picks a free port (retrying with another one if redis cannot bind
  // it); later starts reuse the port and the directory. True if running.
  bool Start() {
    if (pid_ > 0) return true;
    error_.clear();
    if (dir_.empty() && !MakeDir()) return false;
    const std::string binary = FindRedisServer();
    if (binary.empty()) return Fail("redis-server not found on PATH nor at /usr/bin/redis-server");
    const bool fixed_port = port_ != 0;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (!fixed_port) {
        port_ = PickFreePort();
        if (port_ == 0) return Fail(std::string("cannot pick a free port: ") + std::strerror(errno));
      } else if (attempt > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      if (!Spawn(binary)) return false;
      const Wait w = WaitReady();
      if (w == Wait::kReady) return true;
      if (w == Wait::kTimedOut) {
        Kill();
        return Fail("redis-server did not answer PING within 10 s");
      }
      // kExited: most likely the port was taken meanwhile; try again.
    }
    if (!fixed_port) port_ = 0;
    return Fail("redis-server exited at start 5 times");
  }

  // SIGKILL and reap; no-op if not running. Data not yet on disk is lost.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) == -1 && errno == EINTR) {
    }
    pid_ = -1;
  }

  // Kill (if running), then start again on the same port and directory.
  bool Restart() {
    Kill();
    return Start();
  }

  // SIGSTOP / SIGCONT: the server keeps its connections but answers nothing
  // (to test timeouts).
  void Freeze() {
    if (pid_ > 0) kill(pid_, SIGSTOP);
  }
  void Thaw() {
    if (pid_ > 0) kill(pid_, SIGCONT);
  }

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // <dir>/redis.sock when options.unix_socket, else empty.
  const std::string& unix_path() const { return unix_path_; }
  // "redis://[:password@]127.0.0.1:<port>"
  std::string url() const {
    std::string out = "redis://";
    if (!options_.password.empty()) out += ":" + PercentEncode(options_.password) + "@";
    return out + "127.0.0.1:" + std::to_string(port_);
  }
  // "unix://<dir>/redis.sock[?password=...]"
  std::string unix_url() const {
    std::string out = "unix://" + unix_path_;
    if (!options_.password.empty()) out += "?password=" + PercentEncode(options_.password);
    return out;
  }
  // Why the last Start() failed.
  const std::string& error() const { return error_; }
  std::string log_path() const { return dir_ + "/redis.log"; }
  std::string ReadLog() const {
    std::ifstream in(log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  enum class Wait { kReady, kExited, kTimedOut };

  bool Fail(const std::string& what) {
    error_ = what;
    if (!dir_.empty()) {
      const std::string log = ReadLog();
      if (!log.empty()) error_ += "; redis log ends with:\n" + log.substr(log.size() > 2000 ? log.size() - 2000 : 0);
    }
    return false;
  }

  bool MakeDir() {
    const char* env = std::getenv("TMPDIR");
    std::string base = env != nullptr && env[0] != '\0' ? env : "/tmp";
    // A unix socket path must fit in sun_path (108 bytes).
    if (base.size() > 60) base = "/tmp";
    std::string tmpl = base + "/chat-redis-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return Fail("mkdtemp in " + base + ": " + std::strerror(errno));
    dir_ = tmpl;
    if (options_.unix_socket) unix_path_ = dir_ + "/redis.sock";
    return true;
  }

  static std::string FindRedisServer() {
    if (const char* path = std::getenv("PATH")) {
      std::string_view rest(path);
      while (true) {
        const size_t colon = rest.find(':');
        std::string dir(rest.substr(0, colon));
        if (!dir.empty()) {
          const std::string candidate = dir + "/redis-server";
          if (access(candidate.c_str(), X_OK) == 0) return candidate;
        }
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
      }
    }
    if (access("/usr/bin/redis-server", X_OK) == 0) return "/usr/bin/redis-server";
    return std::string();
  }

  // A port the kernel just handed out on 127.0.0.1, closed again; 0 on error.
  static int PickFreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
  }

  static std::string PercentEncode(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
          c == '_' || c == '~') {
        out.push_back(static_cast<char>(c));
      } else {
        out.push_back('%');
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
      }
    }
    return out;
  }

  bool Spawn(const std::string& binary) {
    std::vector<std::string> args = {binary,      "--bind",       "127.0.0.1", "--port",      std::to_string(port_),
                                     "--save",    "",             "--appendonly", "no",       "--daemonize",
                                     "no",        "--dir",        dir_,        "--logfile",   ""};
    if (!unix_path_.empty()) {
      args.insert(args.end(), {"--unixsocket", unix_path_, "--unixsocketperm", "700"});
    }
    if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = log_path();
    const pid_t parent = getpid();

    const pid_t pid = fork();
    if (pid < 0) return Fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      // Child: only async-signal-safe calls until exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the parent died before prctl
      const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      const int in = open("/dev/null", O_RDONLY);
      if (out < 0 || in < 0) _exit(127);
      dup2(in, 0);
      dup2(out, 1);
      dup2(out, 2);
      close_range(3, ~0U, 0);
      execv(argv[0], argv.data());
      static constexpr char kMsg[] = "exec redis-server failed\n";
      ssize_t ignored = write(2, kMsg, sizeof(kMsg) - 1);
      (void)ignored;
      _exit(127);
    }
    pid_ = pid;
    return true;
  }

  Wait WaitReady() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        pid_ = -1;
        return Wait::kExited;
      }
      if (Ping()) return Wait::kReady;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Wait::kTimedOut;
  }

  // True once the server answers PING (or NOAUTH: up, but a password given in
  // extra_args); false while it is not listening or still loading.
  bool Ping() const {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    bool up = false;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      std::string request;
      if (!options_.password.empty()) {
        request = "*2\r\n$4\r\nAUTH\r\n$" + std::to_string(options_.password.size()) + "\r\n" + options_.password + "\r\n";
      }
      request += "*1\r\n$4\r\nPING\r\n";
      if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
        std::string answer;
        char buf[256];
        while (answer.find("PONG\r\n") == std::string::npos && answer.find("-NOAUTH") == std::string::npos &&
               answer.find("-LOADING") == std::string::npos) {
          const ssize_t n = recv(fd, buf, sizeof(buf), 0);
          if (n <= 0) break;
          answer.append(buf, static_cast<size_t>(n));
        }
        up = answer.find("+PONG\r\n") != std::string::npos || answer.find("-NOAUTH") != std::string::npos;
      }
    }
    close(fd);
    return up;
  }

  RedisServerOptions options_;
  std::string dir_;
  std::string unix_path_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace chat_test
