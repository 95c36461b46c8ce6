// chatbench: load generator for plain Mosquitto and Mosquitto + mosquitto_chat.
//
// N publishers and M subscribers, one TCP connection each, driven by a few
// epoll worker threads (libmosquitto without its own thread: each client is
// owned by one worker, which calls mosquitto_loop_read / _write / _misc on
// it). Measures send/ack/delivery rates, end-to-end latency from a send
// timestamp carried in the payload, broker CPU per message (from
// /proc/PID/stat), and loss, duplicates and order violations per subscriber.
// --reconnect-storm measures connects per second instead.
//
//   chatbench --mode plain --port 1883 --publishers 1 --subscribers 1 --qos 1
//   chatbench --mode chat --keys private.json --kid k-es256 --port 1884 ...
//   chatbench --mode chat ... --port 1891 --sub-port 1892   (cluster: subscribers on another node)
//   chatbench --help
#include <poll.h>
#include <dirent.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <mosquitto.h>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "chat/token_minter.h"
#include "clocks.h"
#include "histogram.h"
#include "proc_cpu.h"

namespace {

using bench::LatencyHistogram;
using bench::MonoNs;
using bench::OtherCpuDelta;
using bench::OtherProcessesCpu;
using bench::SleepUntilNs;
using bench::WallMs;
using json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------
// Clocks

// ---------------------------------------------------------------------------
// Options

enum class Mode { kPlain, kChat };

struct Config {
  std::string host = "127.0.0.1";
  int port = 1883;
  int sub_port = 0;  // subscribers' broker (another cluster node); 0: --port
  Mode mode = Mode::kPlain;
  int publishers = 1;
  int subscribers = 1;
  int channels = 1;
  int qos = 1;
  int payload = 100;
  double rate = 0;  // total msgs/s; 0 = unlimited (window-limited)
  int window = 32;
  double duration_s = 10;
  uint64_t count = 0;  // total original messages; 0 = unlimited (duration-limited)
  double warmup_s = 2;
  double retry_ratio = 0;
  bool reconnect_storm = false;
  std::string keys_file;
  std::string kid;
  int broker_pid = 0;
  std::vector<int> extra_pids;  // more server processes (redis-server, another node)
  bool json = false;
  int workers = 2;
  double drain_s = 10;
  double setup_timeout_s = 60;
  int token_ttl_s = 300;
  uint64_t storm_tokens = 0;  // 0: sized from the duration
  std::string channel_prefix = "bench";
  std::string command_line;
};

const char* kUsage = R"(usage: chatbench [options]

Load generator for Mosquitto (plain) and Mosquitto + mosquitto_chat (chat).

  --host H                broker address [127.0.0.1]
  --port P                broker port [1883]
  --sub-port P            subscribers connect to this port instead (another node
                          of a cluster); chat setup then waits until that node
                          knows the channels [--port]
  --mode plain|chat       plain MQTT payloads, or chat messages with tokens [plain]
  --publishers N          publisher connections [1]
  --subscribers M         subscriber connections [1]
  --channels C            channels (topics chat/<prefix><i>/msg); clients are
                          spread over them round robin [1]
  --qos 0|1|2             QoS of publishes and subscriptions [1]
  --payload BYTES         body size [100]
  --rate R                total msgs/s over all publishers; 0 = unlimited,
                          each publisher then keeps --window messages in flight [0]
  --window W              in-flight messages per publisher (unlimited rate), or
                          parallel connections (--reconnect-storm) [32]
  --duration S            measured seconds [10]
  --count N               stop after N messages in total (0: by duration) [0]
  --warmup S              seconds before measuring, excluded from stats [2]
  --retry-ratio F         chat: fraction of messages sent again with the same id,
                          on the same connection, after the first copy's ack [0]
  --reconnect-storm       measure connects/s: connect, CONNACK, disconnect in a
                          loop on --window parallel connections
  --keys FILE --kid KID   chat mode: private JWKS and the key to mint tokens with
  --broker-pid PID        measure broker CPU (utime+stime of /proc/PID/stat)
  --extra-pids P1,P2      more server processes (redis-server, a second node):
                          their CPU is reported apart (extra_cpu_cores) and not
                          counted as noise
  --workers T             epoll worker threads [2]
  --drain S               seconds to wait for acks and deliveries after sending [10]
  --storm-tokens N        chat storm: tokens minted before measuring [sized from duration]
  --channel-prefix S      channel name prefix [bench]
  --json                  one JSON object on stdout (default: a table)
)";

bool ParseDouble(const std::string& s, double* out) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0 || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

template <typename T>
bool ParseInt(const std::string& s, T* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "chatbench: " << why << "\n(see chatbench --help)\n";
  std::exit(2);
}

Config ParseArgs(int argc, char** argv) {
  Config c;
  for (int i = 0; i < argc; ++i) {
    if (i) c.command_line += ' ';
    c.command_line += argv[i];
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    auto integer = [&](auto* out, long long lo, long long hi) {
      std::string v = value();
      long long x = 0;
      if (!ParseInt(v, &x) || x < lo || x > hi) {
        Usage(a + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
      }
      *out = static_cast<std::remove_reference_t<decltype(*out)>>(x);
    };
    auto real = [&](double* out, double lo, double hi) {
      std::string v = value();
      if (!ParseDouble(v, out) || *out < lo || *out > hi) Usage(a + " must be a number in range");
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--host") {
      c.host = value();
    } else if (a == "--port") {
      integer(&c.port, 1, 65535);
    } else if (a == "--sub-port") {
      integer(&c.sub_port, 1, 65535);
    } else if (a == "--mode") {
      std::string m = value();
      if (m == "plain") c.mode = Mode::kPlain;
      else if (m == "chat") c.mode = Mode::kChat;
      else Usage("--mode must be plain or chat");
    } else if (a == "--publishers") {
      integer(&c.publishers, 0, 100000);
    } else if (a == "--subscribers") {
      integer(&c.subscribers, 0, 100000);
    } else if (a == "--channels") {
      integer(&c.channels, 1, 100000);
    } else if (a == "--qos") {
      integer(&c.qos, 0, 2);
    } else if (a == "--payload") {
      integer(&c.payload, 0, 16 << 20);
    } else if (a == "--rate") {
      real(&c.rate, 0, 1e9);
    } else if (a == "--window") {
      integer(&c.window, 1, 65535);
    } else if (a == "--duration") {
      real(&c.duration_s, 0.1, 86400);
    } else if (a == "--count") {
      integer(&c.count, 0, 1LL << 50);
    } else if (a == "--warmup") {
      real(&c.warmup_s, 0, 3600);
    } else if (a == "--retry-ratio") {
      real(&c.retry_ratio, 0, 1);
    } else if (a == "--reconnect-storm") {
      c.reconnect_storm = true;
    } else if (a == "--keys") {
      c.keys_file = value();
    } else if (a == "--kid") {
      c.kid = value();
    } else if (a == "--broker-pid") {
      integer(&c.broker_pid, 1, 1 << 30);
    } else if (a == "--extra-pids") {
      std::string v = value();
      std::stringstream in(v);
      std::string item;
      while (std::getline(in, item, ',')) {
        int pid = 0;
        if (!ParseInt(item, &pid) || pid < 1) Usage("--extra-pids must be a comma-separated list of PIDs");
        c.extra_pids.push_back(pid);
      }
    } else if (a == "--json") {
      c.json = true;
    } else if (a == "--workers") {
      integer(&c.workers, 1, 256);
    } else if (a == "--drain") {
      real(&c.drain_s, 0, 3600);
    } else if (a == "--storm-tokens") {
      integer(&c.storm_tokens, 1, 10000000);
    } else if (a == "--channel-prefix") {
      c.channel_prefix = value();
    } else {
      Usage("unknown option " + a);
    }
  }
  if (c.sub_port == 0) c.sub_port = c.port;
  if (c.mode == Mode::kChat && (c.keys_file.empty() || c.kid.empty())) Usage("--mode chat needs --keys and --kid");
  if (c.retry_ratio > 0 && c.qos == 0) Usage("--retry-ratio needs --qos 1 or 2 (a retry waits for the ack)");
  if (!c.reconnect_storm && c.publishers == 0 && c.subscribers == 0) Usage("nothing to do: no publishers, no subscribers");
  if (c.qos == 2 && !c.reconnect_storm && (c.window > 20 || c.rate > 0)) {
    std::cerr << "chatbench: QoS 2: at most 20 messages in flight per publisher (Mosquitto's default "
                 "max_inflight_messages; above it a 3.1.1 publisher loses messages silently)\n";
  }
  return c;
}

// ---------------------------------------------------------------------------
// Payloads
//
// plain: a 24-byte header, then the body:
//   "CBv1" | publisher index u32 | counter u64 | send time u64 (CLOCK_MONOTONIC ns), little endian
// chat: a MessagePack map {id: bin16, ts: uint, bt: uint, body: str} where
//   id = run nonce u32 | publisher index u32 | counter u64 (big endian) and
//   bt = send time (CLOCK_MONOTONIC ns). Fixed-width encodings, so a
//   template is patched in place for every message.

constexpr size_t kPlainHeader = 24;
constexpr char kPlainMagic[4] = {'C', 'B', 'v', '1'};

void PutBe(uint8_t* p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}
uint64_t GetBe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

struct PayloadTemplate {
  std::vector<uint8_t> bytes;
  size_t id_at = 0, ts_at = 0, bt_at = 0;  // offsets of the values to patch

  void Build(Mode mode, int body) {
    bytes.clear();
    if (mode == Mode::kPlain) {
      bytes.assign(kPlainHeader + static_cast<size_t>(body), 'x');
      std::memcpy(bytes.data(), kPlainMagic, 4);
      return;
    }
    auto put = [&](std::initializer_list<uint8_t> b) { bytes.insert(bytes.end(), b); };
    auto key = [&](const char* k) {
      bytes.push_back(static_cast<uint8_t>(0xa0 | std::strlen(k)));
      bytes.insert(bytes.end(), k, k + std::strlen(k));
    };
    put({0x84});
    key("id");
    put({0xc4, 16});
    id_at = bytes.size();
    bytes.resize(bytes.size() + 16);
    key("ts");
    put({0xcf});
    ts_at = bytes.size();
    bytes.resize(bytes.size() + 8);
    key("bt");
    put({0xcf});
    bt_at = bytes.size();
    bytes.resize(bytes.size() + 8);
    key("body");
    const uint32_t n = static_cast<uint32_t>(body);
    if (n < 32) {
      put({static_cast<uint8_t>(0xa0 | n)});
    } else if (n < 256) {
      put({0xd9, static_cast<uint8_t>(n)});
    } else if (n < 65536) {
      put({0xda});
      bytes.resize(bytes.size() + 2);
      PutBe(&bytes[bytes.size() - 2], n, 2);
    } else {
      put({0xdb});
      bytes.resize(bytes.size() + 4);
      PutBe(&bytes[bytes.size() - 4], n, 4);
    }
    bytes.resize(bytes.size() + n, 'x');
  }

  void Stamp(Mode mode, uint32_t nonce, uint32_t publisher, uint64_t counter, int64_t bt_ns) {
    uint8_t* p = bytes.data();
    if (mode == Mode::kPlain) {
      uint64_t bt = static_cast<uint64_t>(bt_ns);
      std::memcpy(p + 4, &publisher, 4);
      std::memcpy(p + 8, &counter, 8);
      std::memcpy(p + 16, &bt, 8);
      return;
    }
    PutBe(p + id_at, nonce, 4);
    PutBe(p + id_at + 4, publisher, 4);
    PutBe(p + id_at + 8, counter, 8);
    PutBe(p + ts_at, static_cast<uint64_t>(WallMs()), 8);
    PutBe(p + bt_at, static_cast<uint64_t>(bt_ns), 8);
  }
};

// What a subscriber extracts from a delivery.
struct Delivery {
  bool ok = false;
  uint32_t nonce = 0;
  uint32_t publisher = 0;
  uint64_t counter = 0;
  int64_t bt_ns = 0;
  bool has_seq = false;
  uint64_t seq = 0;
};

bool KeyIs(const msgpack::object& k, std::string_view name) {
  return k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == name;
}

bool ReferenceAll(msgpack::type::object_type, std::size_t, void*) { return true; }

Delivery ParseDelivery(Mode mode, const void* data, size_t len) {
  Delivery d;
  const auto* p = static_cast<const uint8_t*>(data);
  if (mode == Mode::kPlain) {
    if (len < kPlainHeader || std::memcmp(p, kPlainMagic, 4) != 0) return d;
    uint64_t bt = 0;
    std::memcpy(&d.publisher, p + 4, 4);
    std::memcpy(&d.counter, p + 8, 8);
    std::memcpy(&bt, p + 16, 8);
    d.bt_ns = static_cast<int64_t>(bt);
    d.ok = true;
    return d;
  }
  try {
    size_t off = 0;
    msgpack::object_handle h = msgpack::unpack(static_cast<const char*>(data), len, off, &ReferenceAll, nullptr);
    const msgpack::object& root = h.get();
    if (root.type != msgpack::type::MAP) return d;
    bool have_id = false, have_bt = false;
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
      const auto& kv = root.via.map.ptr[i];
      if (KeyIs(kv.key, "id") && kv.val.type == msgpack::type::BIN && kv.val.via.bin.size == 16) {
        const auto* id = reinterpret_cast<const uint8_t*>(kv.val.via.bin.ptr);
        d.nonce = static_cast<uint32_t>(GetBe(id, 4));
        d.publisher = static_cast<uint32_t>(GetBe(id + 4, 4));
        d.counter = GetBe(id + 8, 8);
        have_id = true;
      } else if (KeyIs(kv.key, "bt") && kv.val.type == msgpack::type::POSITIVE_INTEGER) {
        d.bt_ns = static_cast<int64_t>(kv.val.via.u64);
        have_bt = true;
      } else if (KeyIs(kv.key, "seq") && kv.val.type == msgpack::type::POSITIVE_INTEGER) {
        d.seq = kv.val.via.u64;
        d.has_seq = true;
      }
    }
    d.ok = have_id && have_bt;
  } catch (const std::exception&) {
    d.ok = false;
  }
  return d;
}

// Reads {code, reason} of a chat error map, for diagnostics.
std::string DescribeChatError(const void* data, size_t len) {
  try {
    size_t off = 0;
    msgpack::object_handle h = msgpack::unpack(static_cast<const char*>(data), len, off);
    const msgpack::object& root = h.get();
    std::string out;
    if (root.type != msgpack::type::MAP) return "(not a map)";
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
      const auto& kv = root.via.map.ptr[i];
      if ((KeyIs(kv.key, "code") || KeyIs(kv.key, "reason")) && kv.val.type == msgpack::type::STR) {
        if (!out.empty()) out += ": ";
        out.append(kv.val.via.str.ptr, kv.val.via.str.size);
      }
    }
    return out;
  } catch (const std::exception&) {
    return "(undecodable)";
  }
}

// ---------------------------------------------------------------------------
// Order tracking: values are expected as first, first+1, ... A value below
// the next expected one is either a late arrival (it was skipped before: an
// order violation) or a duplicate. Skipped values never seen are loss; the
// caller computes loss as expected - unique, which also covers the tail.

struct OrderTracker {
  static constexpr uint64_t kMaxTrackedGap = 100000;
  uint64_t next = 0;
  uint64_t unique = 0;
  uint64_t duplicates = 0;
  uint64_t order_violations = 0;
  std::set<uint64_t> missing;

  explicit OrderTracker(uint64_t first = 0) : next(first) {}

  void See(uint64_t v) {
    if (v == next) {
      ++next;
      ++unique;
    } else if (v > next) {
      if (v - next <= kMaxTrackedGap) {
        for (uint64_t x = next; x < v; ++x) missing.insert(x);
      }
      next = v + 1;
      ++unique;
    } else if (missing.erase(v) > 0) {
      ++unique;
      ++order_violations;
    } else {
      ++duplicates;
    }
  }
};

// ---------------------------------------------------------------------------
// Broker CPU

struct CpuSample {
  bool ok = false;
  double us = 0;
};

CpuSample ReadBrokerCpu(int pid) {
  CpuSample s;
  if (std::optional<double> us = bench::ProcCpuUs(pid)) {
    s.ok = true;
    s.us = *us;
  }
  return s;
}

// The whole machine's busy CPU time (all cores, us), from /proc/stat.
// Interrupt and softirq time (loopback networking, largely on behalf of the
// bench and the broker) is returned apart.
struct MachineCpu {
  double busy_us = 0;
  double irq_us = 0;
};
MachineCpu ReadMachineCpu() {
  MachineCpu m;
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {0};
  in >> cpu;
  for (auto& x : v) in >> x;
  if (cpu != "cpu") return m;
  const double tick = 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
  m.busy_us = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * tick;  // user nice system irq softirq steal
  m.irq_us = static_cast<double>(v[5] + v[6]) * tick;
  return m;
}

double ProcessCpuUs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// ---------------------------------------------------------------------------
// Shared run state

// Mosquitto counts a client's incoming QoS 2 messages awaiting PUBREL against
// max_inflight_messages (default 20); above it, an MQTT 3.1.1 publisher's
// message is dropped with a PUBREC it cannot read as a refusal. Stay below.
constexpr uint32_t kQos2MaxInflight = 20;

enum Phase : int { kConnecting = 0, kRunning = 1, kDraining = 2, kQuit = 3 };

struct Shared {
  Config cfg;
  uint32_t nonce = 0;
  std::string jwks;  // chat: private JWKS text
  std::atomic<int> phase{kConnecting};
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  std::atomic<uint64_t> jti_counter{0};
  int64_t t0_ns = 0;          // start of sending (warmup starts)
  int64_t meas_start_ns = 0;  // warmup over
  int64_t meas_end_ns = 0;    // planned end of the measured interval
  std::mutex error_mu;
  std::map<std::string, uint64_t> errors;  // description -> count
  std::atomic<uint64_t> tokens_minted_inline{0};

  void Error(const std::string& what) {
    std::lock_guard<std::mutex> lock(error_mu);
    ++errors[what];
  }

  bool MintFor(const std::string& user, bool admin, std::string* token) {
    const int64_t now = WallMs() / 1000;
    const uint64_t n = jti_counter.fetch_add(1);
    char jti[64];
    std::snprintf(jti, sizeof(jti), "cb-%08x-%" PRIu64, nonce, n);
    std::string claims = "{\"sub\":\"" + user + "\",\"iat\":" + std::to_string(now) +
                         ",\"exp\":" + std::to_string(now + cfg.token_ttl_s) + ",\"jti\":\"" + jti + "\"" +
                         (admin ? ",\"role\":\"admin\"" : "") + "}";
    chat::Status s = chat::MintToken(jwks, cfg.kid, claims, token);
    if (!s.ok()) {
      Error("minting a token failed: " + s.ToString());
      return false;
    }
    return true;
  }
};

std::string ChannelName(const Config& c, int ch) { return c.channel_prefix + std::to_string(ch); }
std::string MsgTopic(const Config& c, int ch) { return "chat/" + ChannelName(c, ch) + "/msg"; }
std::string PublisherUser(int i) { return "bp" + std::to_string(i); }
std::string SubscriberUser(int i) { return "bs" + std::to_string(i); }
std::string StormUser(int i) { return "bst" + std::to_string(i); }

// ---------------------------------------------------------------------------
// Clients and workers

enum class Role { kPublisher, kSubscriber, kStorm };

class Worker;

struct InflightInfo {
  uint64_t counter = 0;
  bool retry = false;
};

struct Client {
  Worker* worker = nullptr;
  mosquitto* m = nullptr;
  Role role = Role::kPublisher;
  int index = 0;    // within its role
  int channel = 0;
  std::string user;
  std::string client_id;
  std::string topic;
  int fd = -1;          // registered in the worker's epoll
  uint32_t events = 0;  // registered events
  bool connecting = false;
  bool connected = false;
  bool ready = false;
  bool dead = false;  // lost or refused outside the storm: not used any more

  // publisher
  PayloadTemplate payload;
  uint64_t next_counter = 0;  // originals sent so far
  uint64_t quota = UINT64_MAX;
  uint32_t inflight = 0;
  std::unordered_map<int, InflightInfo> mids;
  std::deque<uint64_t> resend;
  int64_t next_send_ns = 0;
  int64_t interval_ns = 0;
  uint64_t rng = 0;
  uint64_t sent = 0, acked = 0, retries_sent = 0, retries_acked = 0;
  std::atomic<uint64_t> originals_acked{0};
  std::atomic<uint32_t> inflight_shared{0};
  uint64_t refusals = 0;

  // subscriber
  OrderTracker seq_tracker{1};
  std::vector<OrderTracker> pub_trackers;  // by publisher index
  std::atomic<uint64_t> unique{0};
  uint64_t unique_by_publisher = 0;
  uint64_t received = 0;
  uint64_t malformed = 0;
  uint64_t foreign = 0;  // deliveries from another run (nonce differs)

  // storm
  bool storm_disconnect = false;
  bool storm_closed = false;
  int64_t connect_started_ns = 0;
  bool host_set = false;
  std::deque<std::string> tokens;  // storm: minted before measuring  // mosquitto_connect was called once: later connects use mosquitto_reconnect
};

class Worker {
 public:
  Worker(Shared* shared, int id) : sh_(shared), cfg_(shared->cfg), id_(id) {
    const double total_s = cfg_.warmup_s + cfg_.duration_s + cfg_.drain_s + cfg_.setup_timeout_s + 30;
    slots_ = static_cast<size_t>(total_s * 1000) + 1;
    sent_.assign(slots_, 0);
    acked_.assign(slots_, 0);
    delivered_.assign(slots_, 0);
    connects_.assign(slots_, 0);
  }
  ~Worker() {
    if (ep_ >= 0) close(ep_);
    if (tfd_ >= 0) close(tfd_);
  }

  void Add(Client* c) {
    c->worker = this;
    clients_.push_back(c);
    if (c->role == Role::kPublisher) publishers_.push_back(c);
  }

  void Start() { thread_ = std::thread([this] { Run(); }); }
  // CPU time of the worker thread so far, in microseconds.
  double CpuUs() {
    clockid_t cid;
    timespec ts{};
    if (pthread_getcpuclockid(thread_.native_handle(), &cid) != 0 || clock_gettime(cid, &ts) != 0) return 0;
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // Results, read after Join().
  const std::vector<uint32_t>& sent() const { return sent_; }
  const std::vector<uint32_t>& acked() const { return acked_; }
  const std::vector<uint32_t>& delivered() const { return delivered_; }
  const std::vector<uint32_t>& connects() const { return connects_; }
  const LatencyHistogram& latency() const { return latency_; }
  const LatencyHistogram& connect_latency() const { return connect_latency_; }
  uint64_t storm_refused() const { return storm_refused_; }
  uint64_t storm_connect_errors() const { return storm_connect_errors_; }
  uint64_t storm_connects_total() const { return storm_connects_total_; }

  // Callbacks (static trampolines below).
  void OnConnect(Client* c, int rc);
  void OnDisconnect(Client* c, int rc);
  void OnPublish(Client* c, int mid);
  void OnSubscribe(Client* c, int qos_count, const int* granted);
  void OnMessage(Client* c, const mosquitto_message* msg);

 private:
  void Run();
  bool BeginConnect(Client* c);
  void Sync(Client* c);
  void ReadAll(Client* c);
  void WriteOut(Client* c);
  void Pump(Client* c, int64_t now);
  void StormStep(Client* c);
  void ArmTimer(int64_t deadline_ns);
  size_t Slot(int64_t t) const {
    if (t < sh_->t0_ns) return 0;
    size_t s = static_cast<size_t>((t - sh_->t0_ns) / 1000000);
    return std::min(s, slots_ - 1);
  }
  bool Measured(int64_t t) const { return t >= sh_->meas_start_ns && t < sh_->meas_end_ns; }

  Shared* sh_;
  const Config& cfg_;
  int id_;
  int ep_ = -1;
  int tfd_ = -1;
  int64_t armed_ns_ = 0;
  std::thread thread_;
  std::vector<Client*> clients_;
  std::vector<Client*> publishers_;
  size_t slots_ = 0;
  std::vector<uint32_t> sent_, acked_, delivered_, connects_;
  LatencyHistogram latency_;
  LatencyHistogram connect_latency_;
  uint64_t storm_refused_ = 0;
  uint64_t storm_connect_errors_ = 0;
  uint64_t storm_connects_total_ = 0;
  int pending_connects_ = 0;
};

Client* C(void* userdata) { return static_cast<Client*>(userdata); }
void OnConnectCb(mosquitto*, void* ud, int rc) { C(ud)->worker->OnConnect(C(ud), rc); }
void OnDisconnectCb(mosquitto*, void* ud, int rc) { C(ud)->worker->OnDisconnect(C(ud), rc); }
void OnPublishCb(mosquitto*, void* ud, int mid) { C(ud)->worker->OnPublish(C(ud), mid); }
void OnSubscribeCb(mosquitto*, void* ud, int, int qos_count, const int* granted) {
  C(ud)->worker->OnSubscribe(C(ud), qos_count, granted);
}
void OnMessageCb(mosquitto*, void* ud, const mosquitto_message* msg) { C(ud)->worker->OnMessage(C(ud), msg); }

mosquitto* NewClient(const char* id, Client* c) {
  mosquitto* m = mosquitto_new(id, true, c);
  if (m == nullptr) return nullptr;
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, 0);  // the bench keeps its own window
  mosquitto_connect_callback_set(m, OnConnectCb);
  mosquitto_disconnect_callback_set(m, OnDisconnectCb);
  mosquitto_publish_callback_set(m, OnPublishCb);
  mosquitto_subscribe_callback_set(m, OnSubscribeCb);
  mosquitto_message_callback_set(m, OnMessageCb);
  return m;
}

void Worker::OnConnect(Client* c, int rc) {
  const int64_t now = MonoNs();
  c->connecting = false;
  if (pending_connects_ > 0) --pending_connects_;
  if (c->role == Role::kStorm) {
    ++storm_connects_total_;
    if (rc == 0) {
      c->connected = true;
      ++connects_[Slot(now)];
      if (Measured(now)) connect_latency_.RecordNs(now - c->connect_started_ns);
    } else {
      ++storm_refused_;
      sh_->Error(std::string("storm connect refused: ") + mosquitto_connack_string(rc));
    }
    c->storm_disconnect = true;
    return;
  }
  if (rc != 0) {
    sh_->Error(std::string("connect refused: ") + mosquitto_connack_string(rc));
    c->dead = true;
    sh_->failed.fetch_add(1);
    return;
  }
  c->connected = true;
  if (c->role == Role::kSubscriber) {
    int r = mosquitto_subscribe(c->m, nullptr, c->topic.c_str(), cfg_.qos);
    if (r != MOSQ_ERR_SUCCESS) {
      sh_->Error(std::string("subscribe failed: ") + mosquitto_strerror(r));
      c->dead = true;
      sh_->failed.fetch_add(1);
    }
  } else if (!c->ready) {
    c->ready = true;
    sh_->ready.fetch_add(1);
  }
}

void Worker::OnDisconnect(Client* c, int rc) {
  c->fd = -1;  // the socket is closed, and with it its epoll registration
  c->events = 0;
  c->connected = false;
  c->connecting = false;
  if (c->role == Role::kStorm) {
    c->storm_closed = true;
    return;
  }
  if (sh_->phase.load() < kQuit && !c->dead) {
    sh_->Error(std::string("connection lost: ") + mosquitto_strerror(rc));
    c->dead = true;
    if (!c->ready) sh_->failed.fetch_add(1);
  }
}

void Worker::OnPublish(Client* c, int mid) {
  const int64_t now = MonoNs();
  InflightInfo info;
  if (cfg_.qos > 0) {
    auto it = c->mids.find(mid);
    if (it == c->mids.end()) {
      sh_->Error("ack for an unknown message id");
      return;
    }
    info = it->second;
    c->mids.erase(it);
  }
  if (c->inflight > 0) --c->inflight;
  c->inflight_shared.store(c->inflight, std::memory_order_relaxed);
  ++c->acked;
  ++acked_[Slot(now)];
  if (info.retry) {
    ++c->retries_acked;
    return;
  }
  c->originals_acked.fetch_add(1, std::memory_order_relaxed);
  if (cfg_.retry_ratio > 0) {
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    if (static_cast<double>(c->rng >> 11) * 0x1.0p-53 < cfg_.retry_ratio) c->resend.push_back(info.counter);
  }
}

void Worker::OnSubscribe(Client* c, int qos_count, const int* granted) {
  if (qos_count < 1 || granted[0] < 0 || granted[0] > 2) {
    sh_->Error("subscription refused for " + c->topic);
    c->dead = true;
    sh_->failed.fetch_add(1);
    return;
  }
  if (!c->ready) {
    c->ready = true;
    sh_->ready.fetch_add(1);
  }
}

void Worker::OnMessage(Client* c, const mosquitto_message* msg) {
  const int64_t now = MonoNs();
  if (c->role != Role::kSubscriber) {
    // Only chat errors come to publishers (sent to that client only).
    ++c->refusals;
    std::string what = cfg_.mode == Mode::kChat ? DescribeChatError(msg->payload, static_cast<size_t>(msg->payloadlen))
                                                : std::string("unexpected message");
    sh_->Error(std::string("publisher got ") + msg->topic + ": " + what);
    return;
  }
  ++c->received;
  ++delivered_[Slot(now)];
  Delivery d = ParseDelivery(cfg_.mode, msg->payload, static_cast<size_t>(msg->payloadlen));
  if (!d.ok) {
    ++c->malformed;
    return;
  }
  if (cfg_.mode == Mode::kChat && d.nonce != sh_->nonce) {
    ++c->foreign;
    return;
  }
  if (d.bt_ns >= sh_->meas_start_ns && d.bt_ns < sh_->meas_end_ns) latency_.RecordNs(now - d.bt_ns);
  if (d.publisher < c->pub_trackers.size()) {
    OrderTracker& t = c->pub_trackers[d.publisher];
    const uint64_t before = t.unique;
    t.See(d.counter);
    c->unique_by_publisher += t.unique - before;
  } else {
    ++c->malformed;
  }
  if (cfg_.mode == Mode::kChat) {
    if (d.has_seq) c->seq_tracker.See(d.seq);
    else ++c->malformed;
    c->unique.store(c->seq_tracker.unique, std::memory_order_relaxed);
  } else {
    c->unique.store(c->unique_by_publisher, std::memory_order_relaxed);
  }
}

bool Worker::BeginConnect(Client* c) {
  if (cfg_.mode == Mode::kChat) {
    std::string token;
    if (c->role == Role::kStorm && !c->tokens.empty()) {
      token = std::move(c->tokens.front());
      c->tokens.pop_front();
    }
    if (token.empty()) {
      if (!sh_->MintFor(c->user, false, &token)) return false;
      if (c->role == Role::kStorm) sh_->tokens_minted_inline.fetch_add(1);
    }
    mosquitto_username_pw_set(c->m, c->user.c_str(), token.c_str());
  }
  c->fd = -1;
  c->events = 0;
  c->storm_closed = false;
  c->storm_disconnect = false;
  c->connect_started_ns = MonoNs();
  // The TCP connect is blocking (on loopback it completes at once); the
  // CONNACK is awaited through epoll.
  const int port = c->role == Role::kSubscriber ? cfg_.sub_port : cfg_.port;
  int rc = c->host_set ? mosquitto_reconnect(c->m) : mosquitto_connect(c->m, cfg_.host.c_str(), port, 60);
  if (rc != MOSQ_ERR_SUCCESS) {
    std::string why = rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc);
    sh_->Error("connect failed: " + why);
    return false;
  }
  c->host_set = true;
  c->connecting = true;
  ++pending_connects_;
  Sync(c);
  return true;
}

// Keeps the epoll registration in step with the client's socket and with
// whether libmosquitto has something to write.
void Worker::Sync(Client* c) {
  const int fd = mosquitto_socket(c->m);
  if (fd < 0) {
    c->fd = -1;
    c->events = 0;
    return;
  }
  const uint32_t want = EPOLLIN | (mosquitto_want_write(c->m) ? uint32_t{EPOLLOUT} : 0u);
  if (fd != c->fd) {
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = c;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      if (errno == EEXIST) {
        epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
      } else {
        sh_->Error(std::string("epoll_ctl: ") + std::strerror(errno));
        return;
      }
    }
    c->fd = fd;
    c->events = want;
  } else if (want != c->events) {
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = c;
    epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
    c->events = want;
  }
}

void Worker::ReadAll(Client* c) {
  // loop_read handles a bounded number of packets per call; go on until the
  // socket is drained (errno EAGAIN), but give other clients a turn.
  for (int i = 0; i < 256 && mosquitto_socket(c->m) >= 0; ++i) {
    errno = 0;
    int rc = mosquitto_loop_read(c->m, 1);
    if (rc != MOSQ_ERR_SUCCESS) return;  // the socket is closed; OnDisconnect ran
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
  }
}

void Worker::WriteOut(Client* c) {
  if (mosquitto_socket(c->m) < 0) return;
  mosquitto_loop_write(c->m, 1);
}

void Worker::Pump(Client* c, int64_t now) {
  if (!c->connected || c->dead) return;
  const int phase = sh_->phase.load(std::memory_order_relaxed);
  if (phase != kRunning) return;
  if (now >= sh_->meas_end_ns) return;
  uint32_t limit = cfg_.rate > 0 ? 65000u : static_cast<uint32_t>(cfg_.window);
  if (cfg_.qos == 2) limit = std::min(limit, kQos2MaxInflight);
  while (c->inflight < limit) {
    const bool retry = !c->resend.empty();
    if (!retry) {
      if (c->next_counter >= c->quota) break;
      if (cfg_.rate > 0 && c->next_send_ns > now) break;
    }
    const uint64_t counter = retry ? c->resend.front() : c->next_counter;
    const int64_t bt = MonoNs();
    c->payload.Stamp(cfg_.mode, sh_->nonce, static_cast<uint32_t>(c->index), counter, bt);
    int mid = 0;
    ++c->inflight;  // before publishing: at QoS 0 the "ack" comes from inside mosquitto_publish
    int rc = mosquitto_publish(c->m, &mid, c->topic.c_str(), static_cast<int>(c->payload.bytes.size()),
                               c->payload.bytes.data(), cfg_.qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
      --c->inflight;
      sh_->Error(std::string("publish failed: ") + mosquitto_strerror(rc));
      break;
    }
    if (cfg_.qos > 0) c->mids[mid] = InflightInfo{counter, retry};
    c->inflight_shared.store(c->inflight, std::memory_order_relaxed);
    ++c->sent;
    ++sent_[Slot(bt)];
    if (retry) {
      c->resend.pop_front();
      ++c->retries_sent;
    } else {
      ++c->next_counter;
      if (cfg_.rate > 0) {
        c->next_send_ns += c->interval_ns;
        // Far behind schedule (a stall): do not send a burst to catch up.
        if (now - c->next_send_ns > 100000000) c->next_send_ns = now;
      }
    }
    if (mosquitto_want_write(c->m)) break;  // the socket is full: EPOLLOUT resumes
  }
}

void Worker::StormStep(Client* c) {
  const int phase = sh_->phase.load(std::memory_order_relaxed);
  if (c->connected && c->storm_disconnect) {
    c->storm_disconnect = false;
    mosquitto_disconnect(c->m);  // writes DISCONNECT and closes the socket (OnDisconnect)
    if (mosquitto_socket(c->m) < 0) c->storm_closed = true;
  }
  if (!c->connected && !c->connecting && phase == kRunning && MonoNs() < sh_->meas_end_ns) {
    if (mosquitto_socket(c->m) >= 0) return;  // still closing
    if (!BeginConnect(c)) ++storm_connect_errors_;
  }
}

void Worker::ArmTimer(int64_t deadline_ns) {
  if (deadline_ns == armed_ns_) return;
  itimerspec its{};
  its.it_value.tv_sec = deadline_ns / 1000000000;
  its.it_value.tv_nsec = deadline_ns % 1000000000;
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  timerfd_settime(tfd_, TFD_TIMER_ABSTIME, &its, nullptr);
  armed_ns_ = deadline_ns;
}

void Worker::Run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  tfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    epoll_ctl(ep_, EPOLL_CTL_ADD, tfd_, &ev);
  }
  std::vector<epoll_event> events(512);
  std::vector<Client*> touched;
  size_t next_connect = 0;
  int64_t next_misc = MonoNs() + 1000000000;
  for (;;) {
    const int phase = sh_->phase.load(std::memory_order_acquire);
    if (phase == kQuit) break;
    if (!cfg_.reconnect_storm) {
      // Initial connects, a bounded number outstanding (the broker's listen
      // backlog is small).
      while (next_connect < clients_.size() && pending_connects_ < 64) {
        Client* c = clients_[next_connect++];
        if (!BeginConnect(c)) {
          c->dead = true;
          sh_->failed.fetch_add(1);
        }
      }
    }
    int timeout_ms = 5;
    if (phase == kRunning && cfg_.rate > 0 && !publishers_.empty()) {
      int64_t deadline = INT64_MAX;
      for (Client* p : publishers_) {
        if (p->connected && !p->dead && p->next_counter < p->quota) deadline = std::min(deadline, p->next_send_ns);
      }
      if (deadline != INT64_MAX) ArmTimer(deadline);
    }
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms);
    touched.clear();
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Client*>(events[i].data.ptr);
      if (c == nullptr) {
        uint64_t expirations = 0;
        if (read(tfd_, &expirations, sizeof(expirations)) < 0) {
        }
        armed_ns_ = 0;
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ReadAll(c);
      if ((events[i].events & EPOLLOUT) && mosquitto_socket(c->m) >= 0) WriteOut(c);
      touched.push_back(c);
    }
    const int64_t now = MonoNs();
    for (Client* p : publishers_) {
      Pump(p, now);
      Sync(p);
    }
    if (cfg_.reconnect_storm) {
      for (Client* c : clients_) {
        StormStep(c);
        Sync(c);
      }
    } else {
      for (Client* c : touched) Sync(c);
    }
    if (now >= next_misc) {
      next_misc = now + 1000000000;
      for (Client* c : clients_) {
        if (mosquitto_socket(c->m) >= 0) {
          mosquitto_loop_misc(c->m);
          Sync(c);
        }
      }
    }
  }
  for (Client* c : clients_) {
    if (mosquitto_socket(c->m) >= 0) {
      mosquitto_disconnect(c->m);
      if (mosquitto_want_write(c->m)) mosquitto_loop_write(c->m, 1);
    }
  }
}

// ---------------------------------------------------------------------------
// Admin setup (chat): a synchronous client on the main thread.

class SyncClient {
 public:
  explicit SyncClient(Shared* sh) : sh_(sh) {}
  ~SyncClient() {
    if (m_) {
      if (mosquitto_socket(m_) >= 0) {
        mosquitto_disconnect(m_);
        Loop([] { return true; }, 100);
      }
      mosquitto_destroy(m_);
    }
  }

  bool Connect(const std::string& user, const std::string& token, int port) {
    m_ = mosquitto_new(nullptr, true, this);
    if (!m_) return false;
    mosquitto_int_option(m_, MOSQ_OPT_SEND_MAXIMUM, 0);
    mosquitto_connect_callback_set(m_, [](mosquitto*, void* ud, int rc) {
      auto* self = static_cast<SyncClient*>(ud);
      self->connack_ = rc;
    });
    mosquitto_publish_callback_set(m_, [](mosquitto*, void* ud, int) { ++static_cast<SyncClient*>(ud)->acks_; });
    mosquitto_subscribe_callback_set(m_, [](mosquitto*, void* ud, int, int n, const int* granted) {
      auto* self = static_cast<SyncClient*>(ud);
      self->suback_ = n > 0 ? granted[0] : 0x80;
    });
    mosquitto_message_callback_set(m_, [](mosquitto*, void* ud, const mosquitto_message* msg) {
      auto* self = static_cast<SyncClient*>(ud);
      std::string payload(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
      self->messages_.emplace_back(msg->topic, std::move(payload));
    });
    mosquitto_username_pw_set(m_, user.c_str(), token.c_str());
    int rc = mosquitto_connect(m_, sh_->cfg.host.c_str(), port, 60);
    if (rc != MOSQ_ERR_SUCCESS) {
      sh_->Error(std::string("admin connect failed: ") + mosquitto_strerror(rc));
      return false;
    }
    if (!Loop([this] { return connack_ >= 0; }, 10000)) {
      sh_->Error("admin: no CONNACK");
      return false;
    }
    if (connack_ != 0) {
      sh_->Error(std::string("admin connect refused: ") + mosquitto_connack_string(connack_));
      return false;
    }
    return true;
  }

  bool Publish(const std::string& topic, const std::string& payload, bool retain) {
    ++expected_acks_;
    int rc = mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 1, retain);
    return rc == MOSQ_ERR_SUCCESS;
  }
  bool WaitAcks(int timeout_ms) {
    return Loop([this] { return acks_ >= expected_acks_; }, timeout_ms);
  }
  bool Subscribe(const std::string& filter, int timeout_ms) {
    suback_ = -1;
    if (mosquitto_subscribe(m_, nullptr, filter.c_str(), 1) != MOSQ_ERR_SUCCESS) return false;
    return Loop([this] { return suback_ >= 0; }, timeout_ms) && suback_ <= 2;
  }
  // Runs the client until done() or the timeout. poll(), not
  // mosquitto_loop(): that one uses select(), which breaks on descriptors
  // above 1023 (a bench with 1,000 subscribers has many).
  bool Loop(const std::function<bool()>& done, int timeout_ms) {
    const int64_t deadline = MonoNs() + static_cast<int64_t>(timeout_ms) * 1000000;
    while (!done()) {
      if (MonoNs() >= deadline) return false;
      const int fd = mosquitto_socket(m_);
      if (fd < 0) return false;
      pollfd p{};
      p.fd = fd;
      p.events = static_cast<short>(POLLIN | (mosquitto_want_write(m_) ? POLLOUT : 0));
      if (poll(&p, 1, 10) < 0 && errno != EINTR) return false;
      if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
        if (mosquitto_loop_read(m_, 1) != MOSQ_ERR_SUCCESS) return false;
      }
      if (mosquitto_socket(m_) >= 0 && mosquitto_want_write(m_)) mosquitto_loop_write(m_, 1);
      if (mosquitto_socket(m_) >= 0) mosquitto_loop_misc(m_);
    }
    return true;
  }
  std::vector<std::pair<std::string, std::string>>& messages() { return messages_; }

 private:
  Shared* sh_;
  mosquitto* m_ = nullptr;
  int connack_ = -1;
  int suback_ = -1;
  int acks_ = 0;
  int expected_acks_ = 0;
  std::vector<std::pair<std::string, std::string>> messages_;
};

bool WaitForChannelsOn(Shared* sh, int port, const std::vector<std::pair<std::string, std::string>>& on_pub_node);

bool CreateChannels(Shared* sh) {
  const Config& cfg = sh->cfg;
  std::string token;
  if (!sh->MintFor("bench-admin", true, &token)) return false;
  SyncClient admin(sh);
  if (!admin.Connect("bench-admin", token, cfg.port)) return false;
  if (!admin.Subscribe("$chat/admin/error", 5000)) {
    sh->Error("admin: subscription to $chat/admin/error refused (is the token an admin token?)");
    return false;
  }
  std::string members = "[";
  for (int i = 0; i < cfg.publishers; ++i) members += "\"" + PublisherUser(i) + "\",";
  for (int i = 0; i < cfg.subscribers; ++i) members += "\"" + SubscriberUser(i) + "\",";
  if (members.back() == ',') members.pop_back();
  members += "]";
  const std::string doc = "{\"type\":\"group\",\"members\":" + members + "}";
  for (int ch = 0; ch < cfg.channels; ++ch) {
    const std::string topic = "$chat/admin/channels/" + ChannelName(cfg, ch);
    // Delete first: the channel's sequence starts again at 1.
    if (!admin.Publish(topic, "", true) || !admin.Publish(topic, doc, true)) {
      sh->Error("admin: publish failed");
      return false;
    }
  }
  if (!admin.WaitAcks(30000)) {
    sh->Error("admin: channel documents not acknowledged");
    return false;
  }
  // Check: every channel's document is retained (the plugin applied it).
  if (!admin.Subscribe("$chat/admin/channels/+", 5000)) {
    sh->Error("admin: cannot subscribe to $chat/admin/channels/+");
    return false;
  }
  std::set<std::string> wanted;
  for (int ch = 0; ch < cfg.channels; ++ch) wanted.insert("$chat/admin/channels/" + ChannelName(cfg, ch));
  admin.Loop([&] {
    for (const auto& [topic, payload] : admin.messages()) {
      if (topic == "$chat/admin/error") return true;
      if (!payload.empty()) wanted.erase(topic);
    }
    return wanted.empty();
  }, 10000);
  for (const auto& [topic, payload] : admin.messages()) {
    if (topic == "$chat/admin/error") {
      sh->Error("admin: channel document refused: " + payload);
      return false;
    }
  }
  if (!wanted.empty()) {
    sh->Error("admin: " + std::to_string(wanted.size()) + " channel document(s) not retained, e.g. " + *wanted.begin());
    return false;
  }
  if (cfg.sub_port != cfg.port) return WaitForChannelsOn(sh, cfg.sub_port, admin.messages());
  return true;
}

// Subscribers on another node (--sub-port): a node refuses a subscription to
// a channel it does not know yet (SUBACK 0x80), and a channel document reaches
// the other nodes of a cluster through Redis a little later. Waits (10 s at
// most) until that node retains every channel's document as the publishers'
// node does; a document is re-requested by subscribing again every 200 ms.
bool WaitForChannelsOn(Shared* sh, int port, const std::vector<std::pair<std::string, std::string>>& on_pub_node) {
  const Config& cfg = sh->cfg;
  std::map<std::string, std::string> expected;  // topic -> document retained on --port
  for (const auto& [topic, payload] : on_pub_node) {
    if (topic != "$chat/admin/error" && !payload.empty()) expected[topic] = payload;
  }
  std::string token;
  if (!sh->MintFor("bench-admin", true, &token)) return false;
  SyncClient watcher(sh);
  if (!watcher.Connect("bench-admin", token, port)) return false;
  std::set<std::string> missing;
  for (int ch = 0; ch < cfg.channels; ++ch) missing.insert("$chat/admin/channels/" + ChannelName(cfg, ch));
  const int64_t deadline = MonoNs() + 10000000000LL;
  size_t seen = 0;
  while (!missing.empty() && MonoNs() < deadline) {
    for (const std::string& topic : missing) {
      if (!watcher.Subscribe(topic, 2000)) {
        sh->Error("admin: cannot subscribe to " + topic + " on port " + std::to_string(port));
        return false;
      }
    }
    watcher.Loop([&] {
      auto& msgs = watcher.messages();
      for (; seen < msgs.size(); ++seen) {
        const auto& [topic, payload] = msgs[seen];
        auto it = expected.find(topic);
        // The same document as on the publishers' node (any non-empty one if
        // that node's copy was not seen).
        if (!payload.empty() && (it == expected.end() || it->second == payload)) missing.erase(topic);
      }
      return missing.empty();
    }, 200);
  }
  if (!missing.empty()) {
    sh->Error("admin: after 10 s, the node on port " + std::to_string(port) + " still lacks " +
              std::to_string(missing.size()) + " channel document(s), e.g. " + *missing.begin());
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Results

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

uint64_t SumSlots(const std::vector<std::unique_ptr<Worker>>& workers,
                  const std::vector<uint32_t>& (Worker::*series)() const, size_t from, size_t to) {
  uint64_t total = 0;
  for (const auto& w : workers) {
    const auto& v = ((*w).*series)();
    for (size_t i = from; i < to && i < v.size(); ++i) total += v[i];
  }
  return total;
}

json LatencyJson(const LatencyHistogram& h) {
  auto r = [](double v) { return std::round(v * 10) / 10; };
  return json{{"count", h.count()},       {"p50", r(h.PercentileUs(0.50))},  {"p90", r(h.PercentileUs(0.90))},
              {"p99", r(h.PercentileUs(0.99))}, {"p999", r(h.PercentileUs(0.999))}, {"max", r(h.MaxUs())},
              {"mean", r(h.MeanUs())}};
}

void PrintTable(const json& j) {
  std::printf("chatbench %s\n", j["command"].get<std::string>().c_str());
  std::function<void(const json&, const std::string&)> walk = [&](const json& o, const std::string& prefix) {
    for (auto it = o.begin(); it != o.end(); ++it) {
      if (it.key() == "command") continue;
      const std::string name = prefix.empty() ? it.key() : prefix + "." + it.key();
      if (it->is_object()) {
        walk(*it, name);
      } else {
        std::printf("  %-36s %s\n", name.c_str(), it->dump().c_str());
      }
    }
  };
  walk(j, "");
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  auto sh = std::make_unique<Shared>();
  sh->cfg = ParseArgs(argc, argv);
  const Config& cfg = sh->cfg;
  {
    std::random_device rd;
    sh->nonce = static_cast<uint32_t>(rd());
  }
  {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  if (cfg.mode == Mode::kChat) {
    std::ifstream in(cfg.keys_file, std::ios::binary);
    if (!in) {
      std::cerr << "chatbench: cannot read " << cfg.keys_file << "\n";
      return 1;
    }
    sh->jwks.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  mosquitto_lib_init();

  // Clients, round robin over channels and workers.
  std::vector<std::unique_ptr<Client>> clients;
  const int nworkers = cfg.workers;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < nworkers; ++i) workers.push_back(std::make_unique<Worker>(sh.get(), i));
  std::vector<Client*> publishers, subscribers;
  auto make = [&](Role role, int index) -> Client* {
    auto c = std::make_unique<Client>();
    c->role = role;
    c->index = index;
    c->channel = index % cfg.channels;
    c->topic = MsgTopic(cfg, c->channel);
    char id[64];
    const char* tag = role == Role::kPublisher ? "p" : role == Role::kSubscriber ? "s" : "t";
    std::snprintf(id, sizeof(id), "cb%08x-%s%d", sh->nonce, tag, index);
    c->client_id = id;
    c->user = role == Role::kPublisher ? PublisherUser(index) : role == Role::kSubscriber ? SubscriberUser(index) : StormUser(index);
    // Storm clients let the broker assign ids: a reconnect never takes over
    // a session the broker has not closed yet.
    c->m = NewClient(role == Role::kStorm ? nullptr : id, c.get());
    if (c->m == nullptr) {
      std::cerr << "chatbench: mosquitto_new failed (file descriptors?)\n";
      std::exit(1);
    }
    clients.push_back(std::move(c));
    return clients.back().get();
  };
  if (cfg.reconnect_storm) {
    for (int i = 0; i < cfg.window; ++i) make(Role::kStorm, i);
  } else {
    for (int i = 0; i < cfg.subscribers; ++i) subscribers.push_back(make(Role::kSubscriber, i));
    for (int i = 0; i < cfg.publishers; ++i) publishers.push_back(make(Role::kPublisher, i));
  }
  // Publisher quotas and pacing.
  for (Client* p : publishers) {
    p->payload.Build(cfg.mode, cfg.payload);
    if (cfg.count > 0) {
      p->quota = cfg.count / static_cast<uint64_t>(cfg.publishers) +
                 (static_cast<uint64_t>(p->index) < cfg.count % static_cast<uint64_t>(cfg.publishers) ? 1 : 0);
    }
    if (cfg.rate > 0) p->interval_ns = static_cast<int64_t>(1e9 * cfg.publishers / cfg.rate);
    p->rng = 0x9e3779b97f4a7c15ULL ^ (static_cast<uint64_t>(p->index + 1) * 0xbf58476d1ce4e5b9ULL) ^ sh->nonce;
  }
  for (Client* s : subscribers) s->pub_trackers.assign(static_cast<size_t>(cfg.publishers), OrderTracker(0));
  // Spread: interleave roles so that publishers and subscribers land on different workers.
  {
    size_t k = 0;
    std::vector<Client*> order;
    for (Client* p : publishers) order.push_back(p);
    for (Client* s : subscribers) order.push_back(s);
    if (cfg.reconnect_storm) {
      for (auto& c : clients) order.push_back(c.get());
    }
    for (Client* c : order) workers[k++ % workers.size()]->Add(c);
  }

  const int64_t setup_start = MonoNs();
  if (cfg.mode == Mode::kChat && !cfg.reconnect_storm) {
    if (!CreateChannels(sh.get())) {
      for (const auto& [what, n] : sh->errors) std::cerr << "chatbench: " << what << " (x" << n << ")\n";
      return 1;
    }
  }
  if (cfg.mode == Mode::kChat && cfg.reconnect_storm) {
    // Tokens are minted before measuring, so the client's signing does not
    // compete with the broker for the CPU.
    // Each connection has its own user and its own tokens. The default pool
    // (8,000 per second) is above what one broker core verifies with ES256
    // (about 6,000/s); when it runs dry, tokens are minted inline and counted.
    const uint64_t n = cfg.storm_tokens ? cfg.storm_tokens
                                        : static_cast<uint64_t>((cfg.warmup_s + cfg.duration_s) * 8000) + 1000;
    const uint64_t per_client = n / clients.size() + 1;
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> minters;
    std::atomic<bool> mint_failed{false};
    for (unsigned t = 0; t < threads; ++t) {
      minters.emplace_back([&, t] {
        for (size_t k = t; k < clients.size(); k += threads) {
          Client* c = clients[k].get();
          for (uint64_t i = 0; i < per_client && !mint_failed.load(); ++i) {
            std::string token;
            if (!sh->MintFor(c->user, false, &token)) mint_failed.store(true);
            c->tokens.push_back(std::move(token));
          }
        }
      });
    }
    for (auto& t : minters) t.join();
    if (mint_failed.load()) {
      for (const auto& [what, count] : sh->errors) std::cerr << "chatbench: " << what << "\n";
      return 1;
    }
  }

  // Connect and subscribe, then wait until every client is ready.
  for (auto& w : workers) w->Start();
  const int expected_ready = cfg.reconnect_storm ? 0 : cfg.publishers + cfg.subscribers;
  const int64_t setup_deadline = MonoNs() + static_cast<int64_t>(cfg.setup_timeout_s * 1e9);
  while (sh->ready.load() < expected_ready && sh->failed.load() == 0 && MonoNs() < setup_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  bool setup_ok = sh->ready.load() >= expected_ready && sh->failed.load() == 0;
  const double setup_s = static_cast<double>(MonoNs() - setup_start) / 1e9;

  CpuSample cpu0, cpu1;
  std::vector<CpuSample> extra0(cfg.extra_pids.size()), extra1(cfg.extra_pids.size());
  std::set<int> not_noise(cfg.extra_pids.begin(), cfg.extra_pids.end());
  not_noise.insert(getpid());
  if (cfg.broker_pid > 0) not_noise.insert(cfg.broker_pid);
  std::vector<double> worker_cpu(workers.size(), 0);
  double self_cpu = 0;
  MachineCpu machine0, machine1;
  std::map<int, double> others0, others1;
  int64_t meas_end_actual = 0;
  if (setup_ok) {
    sh->t0_ns = MonoNs() + 1000000;
    sh->meas_start_ns = sh->t0_ns + static_cast<int64_t>(cfg.warmup_s * 1e9);
    sh->meas_end_ns = sh->meas_start_ns + static_cast<int64_t>(cfg.duration_s * 1e9);
    for (Client* p : publishers) p->next_send_ns = sh->t0_ns + (cfg.rate > 0 ? p->interval_ns * p->index / std::max(1, cfg.publishers) : 0);
    SleepUntilNs(sh->t0_ns);
    sh->phase.store(kRunning, std::memory_order_release);
    SleepUntilNs(sh->meas_start_ns);
    cpu0 = ReadBrokerCpu(cfg.broker_pid);
    for (size_t i = 0; i < cfg.extra_pids.size(); ++i) extra0[i] = ReadBrokerCpu(cfg.extra_pids[i]);
    machine0 = ReadMachineCpu();
    others0 = OtherProcessesCpu(not_noise);
    self_cpu = -ProcessCpuUs();
    for (size_t i = 0; i < workers.size(); ++i) worker_cpu[i] = -workers[i]->CpuUs();
    // The measured interval ends at its planned end, or earlier once every
    // publisher has sent its --count and every message is acknowledged.
    for (;;) {
      const int64_t now = MonoNs();
      if (now >= sh->meas_end_ns) break;
      if (cfg.count > 0 && !publishers.empty()) {
        bool done = true;
        uint64_t acked = 0;
        for (Client* p : publishers) {
          acked += p->originals_acked.load(std::memory_order_relaxed);
          if (p->dead) continue;
          if (p->inflight_shared.load(std::memory_order_relaxed) > 0) done = false;
        }
        if (done && acked >= cfg.count) break;
      }
      SleepUntilNs(std::min(sh->meas_end_ns, now + 1000000));
    }
    cpu1 = ReadBrokerCpu(cfg.broker_pid);
    for (size_t i = 0; i < cfg.extra_pids.size(); ++i) extra1[i] = ReadBrokerCpu(cfg.extra_pids[i]);
    machine1 = ReadMachineCpu();
    others1 = OtherProcessesCpu(not_noise);
    self_cpu += ProcessCpuUs();
    for (size_t i = 0; i < workers.size(); ++i) worker_cpu[i] += workers[i]->CpuUs();
    meas_end_actual = MonoNs();
    sh->phase.store(kDraining, std::memory_order_release);

    // Drain: every sent message acknowledged, then every subscriber holding
    // every accepted message of its channel.
    const int64_t drain_deadline = MonoNs() + static_cast<int64_t>(cfg.drain_s * 1e9);
    auto all_acked = [&] {
      for (Client* p : publishers) {
        if (!p->dead && p->inflight_shared.load(std::memory_order_relaxed) > 0) return false;
      }
      return true;
    };
    while (!all_acked() && MonoNs() < drain_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    auto all_delivered = [&] {
      std::vector<uint64_t> per_channel(static_cast<size_t>(cfg.channels), 0);
      for (Client* p : publishers) per_channel[static_cast<size_t>(p->channel)] += p->originals_acked.load();
      for (Client* s : subscribers) {
        if (!s->dead && s->unique.load(std::memory_order_relaxed) < per_channel[static_cast<size_t>(s->channel)]) return false;
      }
      return true;
    };
    while (!all_delivered() && MonoNs() < drain_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    // A little longer, so that late duplicates show up.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  sh->phase.store(kQuit, std::memory_order_release);
  for (auto& w : workers) w->Join();

  // ---- results
  json j;
  j["command"] = cfg.command_line;
  j["mode"] = cfg.mode == Mode::kChat ? "chat" : "plain";
  j["scenario"] = cfg.reconnect_storm ? "reconnect-storm" : "pubsub";
  json params = {{"publishers", cfg.publishers}, {"subscribers", cfg.subscribers}, {"channels", cfg.channels},
                 {"qos", cfg.qos},               {"payload", cfg.payload},         {"rate", cfg.rate},
                 {"window", cfg.window},         {"duration_s", cfg.duration_s},   {"warmup_s", cfg.warmup_s},
                 {"count", cfg.count},           {"retry_ratio", cfg.retry_ratio}, {"workers", cfg.workers}};
  if (cfg.mode == Mode::kChat) params["kid"] = cfg.kid;
  if (cfg.sub_port != cfg.port) params["sub_port"] = cfg.sub_port;
  j["params"] = params;
  j["ok"] = setup_ok;
  j["setup_s"] = std::round(setup_s * 1000) / 1000;
  double meas_s = 0;
  if (setup_ok) {
    meas_s = static_cast<double>(meas_end_actual - sh->meas_start_ns) / 1e9;
    const size_t from = static_cast<size_t>((sh->meas_start_ns - sh->t0_ns) / 1000000);
    const size_t to = static_cast<size_t>((meas_end_actual - sh->t0_ns) / 1000000);
    const double span_s = static_cast<double>(to - from) / 1000.0;
    j["measured_s"] = std::round(meas_s * 1000) / 1000;
    const double cpu_us = cpu0.ok && cpu1.ok ? cpu1.us - cpu0.us : -1;
    // How busy the bench's own threads were: near 1.0 means the client, not
    // the broker, may be the limit.
    json wutil = json::array();
    for (double w : worker_cpu) wutil.push_back(std::round(Ratio(w, meas_s * 1e6) * 1000) / 1000);
    j["client_worker_cpu_util"] = wutil;
    auto cores = [&](double us) { return std::round(Ratio(us, meas_s * 1e6) * 1000) / 1000; };
    j["client_cpu_util"] = cores(self_cpu);
    j["machine_busy_cores"] = cores(machine1.busy_us - machine0.busy_us);
    j["machine_irq_cores"] = cores(machine1.irq_us - machine0.irq_us);
    // CPU used by other processes meanwhile (noise); only meaningful with
    // --broker-pid, else the broker counts as "other".
    j["other_cpu_cores"] = cores(OtherCpuDelta(others0, others1));
    // --extra-pids: the other servers of the system under test, in order.
    double extra_us = 0;
    bool extra_ok = !cfg.extra_pids.empty();
    if (extra_ok) {
      json per = json::array();
      for (size_t i = 0; i < cfg.extra_pids.size(); ++i) {
        const bool ok = extra0[i].ok && extra1[i].ok;
        extra_ok = extra_ok && ok;
        const double us = ok ? extra1[i].us - extra0[i].us : 0;
        extra_us += us;
        per.push_back(ok ? json(cores(us)) : json(nullptr));
      }
      j["extra_pids"] = cfg.extra_pids;
      j["extra_cpu_cores"] = per;
      if (extra_ok) j["extra_cpu_util"] = cores(extra_us);
    }
    if (cfg.reconnect_storm) {
      const uint64_t connects = SumSlots(workers, &Worker::connects, from, to);
      LatencyHistogram lat;
      uint64_t refused = 0, errors = 0, total = 0;
      for (auto& w : workers) {
        lat.Merge(w->connect_latency());
        refused += w->storm_refused();
        errors += w->storm_connect_errors();
        total += w->storm_connects_total();
      }
      j["connects"] = connects;
      j["connects_per_s"] = std::round(Ratio(static_cast<double>(connects), span_s));
      j["connect_latency_us"] = LatencyJson(lat);
      j["refused"] = refused;
      j["connect_errors"] = errors;
      j["connacks_total"] = total;
      if (cfg.mode == Mode::kChat) {
        uint64_t left = 0;
        for (auto& c : clients) left += c->tokens.size();
        j["tokens_minted_inline"] = sh->tokens_minted_inline.load();
        j["tokens_unused"] = left;
      }
      if (cpu_us >= 0) {
        j["broker_cpu_us"] = std::round(cpu_us);
        j["broker_cpu_util"] = std::round(Ratio(cpu_us, meas_s * 1e6) * 1000) / 1000;
        j["broker_cpu_us_per_connect"] = std::round(Ratio(cpu_us, static_cast<double>(connects)) * 100) / 100;
      }
    } else {
      const uint64_t sent = SumSlots(workers, &Worker::sent, from, to);
      const uint64_t acked = SumSlots(workers, &Worker::acked, from, to);
      const uint64_t delivered = SumSlots(workers, &Worker::delivered, from, to);
      j["sent"] = sent;
      j["acked"] = acked;
      j["deliveries"] = delivered;
      j["sent_per_s"] = std::round(Ratio(static_cast<double>(sent), span_s));
      j["acked_per_s"] = std::round(Ratio(static_cast<double>(acked), span_s));
      j["deliveries_per_s"] = std::round(Ratio(static_cast<double>(delivered), span_s));
      LatencyHistogram lat;
      for (auto& w : workers) lat.Merge(w->latency());
      j["latency_us"] = LatencyJson(lat);
      if (cpu_us >= 0) {
        j["broker_cpu_us"] = std::round(cpu_us);
        j["broker_cpu_util"] = std::round(Ratio(cpu_us, meas_s * 1e6) * 1000) / 1000;
        j["broker_cpu_us_per_delivery"] = std::round(Ratio(cpu_us, static_cast<double>(delivered)) * 100) / 100;
        j["broker_cpu_us_per_accepted"] = std::round(Ratio(cpu_us, static_cast<double>(acked)) * 100) / 100;
        if (extra_ok) {
          // Broker and --extra-pids together: every server the message crossed.
          j["servers_cpu_us_per_accepted"] = std::round(Ratio(cpu_us + extra_us, static_cast<double>(acked)) * 100) / 100;
        }
      }
      // Correctness over the whole run (warmup and drain included).
      std::vector<uint64_t> accepted(static_cast<size_t>(cfg.channels), 0);
      uint64_t total_sent = 0, total_acked = 0, retries_sent = 0, retries_acked = 0, unacked = 0, refusals = 0;
      for (Client* p : publishers) {
        accepted[static_cast<size_t>(p->channel)] += p->originals_acked.load();
        total_sent += p->sent;
        total_acked += p->acked;
        retries_sent += p->retries_sent;
        retries_acked += p->retries_acked;
        unacked += p->inflight;
        refusals += p->refusals;
      }
      uint64_t loss = 0, dups = 0, order = 0, id_dups = 0, id_order = 0, malformed = 0, foreign = 0, received = 0;
      int dead_subscribers = 0;
      for (Client* s : subscribers) {
        const uint64_t expected = accepted[static_cast<size_t>(s->channel)];
        uint64_t unique_id = 0;
        for (const auto& t : s->pub_trackers) {
          unique_id += t.unique;
          id_dups += t.duplicates;
          id_order += t.order_violations;
        }
        if (cfg.mode == Mode::kChat) {
          loss += expected > s->seq_tracker.unique ? expected - s->seq_tracker.unique : 0;
          dups += s->seq_tracker.duplicates;
          order += s->seq_tracker.order_violations;
          // A message delivered twice under two seqs is a duplicate too.
          if (s->seq_tracker.unique > unique_id) dups += s->seq_tracker.unique - unique_id;
        } else {
          loss += expected > unique_id ? expected - unique_id : 0;
        }
        malformed += s->malformed;
        foreign += s->foreign;
        received += s->received;
        if (s->dead) ++dead_subscribers;
      }
      if (cfg.mode == Mode::kPlain) {
        dups = id_dups;
        order = id_order;
      }
      json corr = {{"messages_sent", total_sent}, {"messages_acked", total_acked}, {"unacked", unacked},
                   {"retries_sent", retries_sent}, {"retries_acked", retries_acked},
                   {"deliveries_total", received}, {"loss", loss},                  {"duplicates", dups},
                   {"order_violations", order}};
      if (cfg.mode == Mode::kChat) {
        corr["id_duplicates"] = id_dups;
        corr["id_order_violations"] = id_order;
        corr["refusals"] = refusals;
      }
      corr["malformed"] = malformed;
      if (foreign) corr["foreign"] = foreign;
      corr["dead_subscribers"] = dead_subscribers;
      j["correctness"] = corr;
    }
  }
  json errs = json::object();
  for (const auto& [what, n] : sh->errors) errs[what] = n;
  j["errors"] = errs;

  if (cfg.json) {
    std::cout << j.dump() << std::endl;
  } else {
    PrintTable(j);
  }
  for (auto& c : clients) mosquitto_destroy(c->m);
  mosquitto_lib_cleanup();
  return setup_ok ? 0 : 1;
}
