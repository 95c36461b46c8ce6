// syncbench: history sync throughput under live traffic (bench scenario s).
//
// Against a broker with mosquitto_chat (chat only; plain Mosquitto has no sync):
//   1. an admin (re)creates two group channels: <prefix>hist and <prefix>live;
//   2. a preloader publishes --history messages (QoS 1, unlimited, libmosquitto
//      keeps --window in flight) to <prefix>hist and waits for every PUBACK;
//   3. a live publisher sends QoS 1 at a fixed --rate to <prefix>live, a live
//      subscriber measures end-to-end latency (receive time - send time in the
//      payload's bt; one host, one clock);
//   4. after --warmup s, --baseline s of live traffic alone, then --duration s
//      during which a sync client pages through the whole history again and
//      again: {after, limit: --page} on chat/<hist>/sync, the next page after
//      the reply's `last` while `more`, from after=0 again when it is false.
// Reports messages synced per second (messages received by the sync client /
// sync time) and the live latency of messages sent in the baseline vs the sync
// period. Every client runs on its own libmosquitto thread (mosquitto_loop_start).
#include <dirent.h>
#include <unistd.h>
#include <algorithm>
#include <functional>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
#include <mosquitto.h>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include "chat/token_minter.h"
#include "clocks.h"
#include "histogram.h"
#include "proc_cpu.h"

using json = nlohmann::json;
using bench::LatencyHistogram;
using bench::MonoNs;
using bench::OtherCpuDelta;
using bench::OtherProcessesCpu;
using bench::SleepUntilNs;
using bench::WallMs;

namespace {

struct Config {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string keys, kid = "bench-es256";
  std::string prefix = "sb";
  int history = 10000;
  int page = 1000;
  int window = 100;
  int sync_qos = 1;
  double rate = 2000;
  double warmup = 1, baseline = 4, duration = 6;
  int body = 100;
  int broker_pid = 0;
  bool json_out = false;
};

const char* kUsage =
    "syncbench: history sync throughput under live traffic (mosquitto_chat only)\n"
    "  --host H --port P        broker [127.0.0.1:1883]\n"
    "  --keys FILE --kid KID    private JWKS (chatctl keygen) and key id [bench-es256]\n"
    "  --history N              messages preloaded into the history channel [10000]\n"
    "  --page N                 sync request limit [1000]\n"
    "  --window N               preloader messages in flight [100]\n"
    "  --sync-qos 0|1           the sync client's subscription QoS [1]\n"
    "  --rate R                 live messages per second, QoS 1 [2000]\n"
    "  --warmup S --baseline S --duration S   live warm-up, live-only and live+sync seconds [1 4 6]\n"
    "  --payload B              body bytes [100]\n"
    "  --prefix P               channel name prefix [sb]\n"
    "  --broker-pid PID         broker CPU from /proc\n"
    "  --json                   one JSON object on stdout\n";

std::string g_jwks;
uint32_t g_nonce = 0;
std::atomic<uint64_t> g_jti{0};
std::mutex g_err_mu;
std::map<std::string, uint64_t> g_errors;
void Error(const std::string& e) {
  std::lock_guard<std::mutex> l(g_err_mu);
  ++g_errors[e];
}

std::string Mint(const Config& c, const std::string& user, bool admin) {
  const int64_t now = WallMs() / 1000;
  char jti[64];
  std::snprintf(jti, sizeof(jti), "sb-%08x-%" PRIu64, g_nonce, g_jti.fetch_add(1));
  std::string claims = "{\"sub\":\"" + user + "\",\"iat\":" + std::to_string(now) + ",\"exp\":" +
                       std::to_string(now + 280) + ",\"jti\":\"" + jti + "\"" + (admin ? ",\"role\":\"admin\"" : "") + "}";
  std::string token;
  chat::Status s = chat::MintToken(g_jwks, c.kid, claims, &token);
  if (!s.ok()) Error("minting a token failed: " + s.ToString());
  return token;
}

std::string ChatPayload(uint32_t who, uint64_t n, int64_t bt, int body) {
  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> p(b);
  p.pack_map(4);
  uint8_t id[16];
  for (int i = 0; i < 4; ++i) id[i] = static_cast<uint8_t>(g_nonce >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) id[4 + i] = static_cast<uint8_t>(who >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) id[8 + i] = static_cast<uint8_t>(n >> (56 - 8 * i));
  p.pack(std::string_view("id"));
  p.pack_bin(16);
  p.pack_bin_body(reinterpret_cast<const char*>(id), 16);
  p.pack(std::string_view("ts"));
  p.pack(static_cast<uint64_t>(WallMs()));
  p.pack(std::string_view("bt"));
  p.pack(static_cast<uint64_t>(bt));
  p.pack(std::string_view("body"));
  p.pack(std::string(static_cast<size_t>(body), 'x'));
  return std::string(b.data(), b.size());
}

const msgpack::object* Field(const msgpack::object& root, std::string_view name) {
  if (root.type != msgpack::type::MAP) return nullptr;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const auto& kv = root.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == name)
      return &kv.val;
  }
  return nullptr;
}

// One client on its own libmosquitto thread; callbacks come from that thread.
class Client {
 public:
  std::function<void(const mosquitto_message*)> on_message;

  bool Connect(const Config& c, const std::string& user, bool admin) {
    m_ = mosquitto_new(nullptr, true, this);
    if (!m_) return false;
    mosquitto_int_option(m_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(m_, MOSQ_OPT_TCP_NODELAY, 1);  // else Nagle holds a sync request behind PUBACKs for a delayed ACK (40 ms)
    mosquitto_max_inflight_messages_set(m_, static_cast<unsigned>(c.window));
    mosquitto_connect_callback_set(m_, [](mosquitto*, void* ud, int rc) { static_cast<Client*>(ud)->Set(&Client::connack_, rc); });
    mosquitto_subscribe_callback_set(m_, [](mosquitto*, void* ud, int, int n, const int* g) {
      static_cast<Client*>(ud)->Set(&Client::suback_, n > 0 ? g[0] : 0x80);
    });
    mosquitto_publish_callback_set(m_, [](mosquitto*, void* ud, int) {
      auto* self = static_cast<Client*>(ud);
      std::lock_guard<std::mutex> l(self->mu_);
      ++self->acks_;
      self->cv_.notify_all();
    });
    mosquitto_message_callback_set(m_, [](mosquitto*, void* ud, const mosquitto_message* msg) {
      auto* self = static_cast<Client*>(ud);
      if (self->on_message) self->on_message(msg);
    });
    const std::string token = Mint(c, user, admin);
    mosquitto_username_pw_set(m_, user.c_str(), token.c_str());
    if (mosquitto_connect(m_, c.host.c_str(), c.port, 60) != MOSQ_ERR_SUCCESS) {
      Error(user + ": connect failed");
      return false;
    }
    if (mosquitto_loop_start(m_) != MOSQ_ERR_SUCCESS) return false;
    if (!WaitFor([this] { return connack_ >= 0; }, 10000) || connack_ != 0) {
      Error(user + ": no or refused CONNACK");
      return false;
    }
    return true;
  }
  bool Subscribe(const std::string& filter, int qos) {
    {
      std::lock_guard<std::mutex> l(mu_);
      suback_ = -1;
    }
    if (mosquitto_subscribe(m_, nullptr, filter.c_str(), qos) != MOSQ_ERR_SUCCESS) return false;
    if (!WaitFor([this] { return suback_ >= 0; }, 5000) || suback_ > 2) {
      Error("subscription refused: " + filter);
      return false;
    }
    return true;
  }
  bool Publish(const std::string& topic, const std::string& payload, int qos, bool retain = false) {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++published_;
    }
    return mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos,
                             retain) == MOSQ_ERR_SUCCESS;
  }
  bool WaitAcks(int timeout_ms) {
    return WaitFor([this] { return acks_ >= published_; }, timeout_ms);
  }
  uint64_t acks() {
    std::lock_guard<std::mutex> l(mu_);
    return acks_;
  }
  ~Client() {
    if (m_) {
      mosquitto_disconnect(m_);
      mosquitto_loop_stop(m_, false);
      mosquitto_destroy(m_);
    }
  }

 private:
  void Set(int Client::*field, int v) {
    std::lock_guard<std::mutex> l(mu_);
    this->*field = v;
    cv_.notify_all();
  }
  template <typename F>
  bool WaitFor(F done, int timeout_ms) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), done);
  }
  mosquitto* m_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  int connack_ = -1, suback_ = -1;
  uint64_t acks_ = 0, published_ = 0;
};

double BrokerCpuUs(int pid) { return bench::ProcCpuUs(pid).value_or(0); }
double SelfCpuUs() { return bench::ProcCpuUs("self").value_or(0); }

json Lat(const LatencyHistogram& h) {
  auto r = [](double v) { return std::round(v * 10) / 10; };
  return json{{"count", h.count()},
              {"p50", r(h.PercentileUs(0.50))},
              {"p99", r(h.PercentileUs(0.99))},
              {"p999", r(h.PercentileUs(0.999))},
              {"max", r(h.MaxUs())}};
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "syncbench: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--host") c.host = next();
    else if (a == "--port") c.port = std::stoi(next());
    else if (a == "--keys") c.keys = next();
    else if (a == "--kid") c.kid = next();
    else if (a == "--history") c.history = std::stoi(next());
    else if (a == "--page") c.page = std::stoi(next());
    else if (a == "--window") c.window = std::stoi(next());
    else if (a == "--sync-qos") c.sync_qos = std::stoi(next());
    else if (a == "--rate") c.rate = std::stod(next());
    else if (a == "--warmup") c.warmup = std::stod(next());
    else if (a == "--baseline") c.baseline = std::stod(next());
    else if (a == "--duration") c.duration = std::stod(next());
    else if (a == "--payload") c.body = std::stoi(next());
    else if (a == "--prefix") c.prefix = next();
    else if (a == "--broker-pid") c.broker_pid = std::stoi(next());
    else if (a == "--json") c.json_out = true;
    else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "syncbench: unknown option " << a << "\n" << kUsage;
      return 2;
    }
  }
  {
    std::ifstream in(c.keys);
    if (!in) {
      std::cerr << "syncbench: --keys FILE (private JWKS) is needed\n";
      return 2;
    }
    g_jwks.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  g_nonce = std::random_device{}();
  mosquitto_lib_init();

  const std::string hist = c.prefix + "hist", live = c.prefix + "live";
  const std::string hist_msg = "chat/" + hist + "/msg", hist_sync = "chat/" + hist + "/sync";
  const std::string live_msg = "chat/" + live + "/msg";
  json out{{"scenario", "sync"}, {"ok", false}};
  auto finish = [&](int rc) {
    {
      std::lock_guard<std::mutex> l(g_err_mu);
      json e = json::object();
      for (const auto& [k, v] : g_errors) e[k] = v;
      out["errors"] = e;
      if (!g_errors.empty()) out["ok"] = false;
    }
    if (c.json_out) std::cout << out.dump() << std::endl;
    else std::cout << out.dump(2) << std::endl;
    return rc;
  };

  bool ok = true;
  {  // Channels: delete and re-create (seq starts at 1).
    Client admin;
    ok = admin.Connect(c, "bench-admin", true);
    if (ok) {
      const std::string dh = "{\"type\":\"group\",\"members\":[\"sbpre\",\"sbsync\"],\"history\":{\"max\":" +
                             std::to_string(std::max(c.history, 1)) + "}}";
      const std::string dl = "{\"type\":\"group\",\"members\":[\"sbpub\",\"sbsub\"]}";
      for (const auto& [ch, doc] : {std::pair{hist, dh}, std::pair{live, dl}}) {
        admin.Publish("$chat/admin/channels/" + ch, "", 1, true);
        admin.Publish("$chat/admin/channels/" + ch, doc, 1, true);
      }
      ok = admin.WaitAcks(10000);
      if (!ok) Error("admin: channel documents not acknowledged");
    }
  }
  if (!ok) return finish(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  // Preload.
  double preload_s = 0;
  {
    Client pre;
    if (!pre.Connect(c, "sbpre", false)) return finish(1);
    const int64_t t0 = MonoNs();
    for (int i = 0; i < c.history; ++i) {
      if (!pre.Publish(hist_msg, ChatPayload(1, static_cast<uint64_t>(i), MonoNs(), c.body), 1)) {
        Error("preload publish failed");
        return finish(1);
      }
    }
    if (!pre.WaitAcks(300000)) {
      Error("preload: not every message acknowledged");
      return finish(1);
    }
    preload_s = static_cast<double>(MonoNs() - t0) / 1e9;
  }
  out["preload_msgs"] = c.history;
  out["preload_s"] = std::round(preload_s * 1000) / 1000;
  out["preload_per_s"] = std::round(c.history / preload_s);

  // Live pair.
  std::mutex lat_mu;
  LatencyHistogram lat_base, lat_sync;
  std::atomic<int64_t> base_from{INT64_MAX}, sync_from{INT64_MAX}, sync_to{INT64_MAX};
  std::atomic<uint64_t> live_received{0}, live_malformed{0};
  Client sub, pub, syncer;
  sub.on_message = [&](const mosquitto_message* msg) {
    const int64_t now = MonoNs();
    live_received.fetch_add(1, std::memory_order_relaxed);
    try {
      size_t off = 0;
      msgpack::object_handle h = msgpack::unpack(static_cast<const char*>(msg->payload),
                                                 static_cast<size_t>(msg->payloadlen), off);
      const msgpack::object* bt = Field(h.get(), "bt");
      if (!bt || bt->type != msgpack::type::POSITIVE_INTEGER) {
        live_malformed.fetch_add(1);
        return;
      }
      const int64_t sent = static_cast<int64_t>(bt->via.u64);
      std::lock_guard<std::mutex> l(lat_mu);
      if (sent >= sync_from.load() && sent < sync_to.load()) lat_sync.RecordNs(now - sent);
      else if (sent >= base_from.load() && sent < sync_from.load()) lat_base.RecordNs(now - sent);
    } catch (...) {
      live_malformed.fetch_add(1);
    }
  };
  if (!sub.Connect(c, "sbsub", false) || !sub.Subscribe(live_msg, 1) || !pub.Connect(c, "sbpub", false))
    return finish(1);

  // Sync client: requests the next page when a reply arrives (on its own thread).
  std::atomic<bool> syncing{false};
  std::atomic<uint64_t> synced{0}, pages{0}, cycles{0}, bad_replies{0};
  std::atomic<uint64_t> last_head{0};
  Client* syncer_ptr = &syncer;
  auto request = [&](uint64_t after) {
    msgpack::sbuffer b;
    msgpack::packer<msgpack::sbuffer> p(b);
    p.pack_map(2);
    p.pack(std::string_view("after"));
    p.pack(after);
    p.pack(std::string_view("limit"));
    p.pack(static_cast<uint64_t>(c.page));
    syncer_ptr->Publish(hist_sync, std::string(b.data(), b.size()), 1);
  };
  syncer.on_message = [&](const mosquitto_message* msg) {
    const std::string_view topic(msg->topic);
    if (topic == hist_msg) {
      synced.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (topic != hist_sync) return;
    try {
      size_t off = 0;
      msgpack::object_handle h = msgpack::unpack(static_cast<const char*>(msg->payload),
                                                 static_cast<size_t>(msg->payloadlen), off);
      const msgpack::object* more = Field(h.get(), "more");
      const msgpack::object* last = Field(h.get(), "last");
      const msgpack::object* head = Field(h.get(), "head");
      if (!more || more->type != msgpack::type::BOOLEAN || !last || last->type != msgpack::type::POSITIVE_INTEGER) {
        if (!Field(h.get(), "limit")) bad_replies.fetch_add(1);  // not our own request echoed
        return;
      }
      if (head && head->type == msgpack::type::POSITIVE_INTEGER) last_head = head->via.u64;
      pages.fetch_add(1);
      uint64_t after = last->via.u64;
      if (!more->via.boolean) {
        cycles.fetch_add(1);
        after = 0;
      }
      if (syncing.load()) request(after);
    } catch (...) {
      bad_replies.fetch_add(1);
    }
  };
  c.window = std::max(c.window, 20);
  if (!syncer.Connect(c, "sbsync", false) || !syncer.Subscribe(hist_msg, c.sync_qos) ||
      !syncer.Subscribe(hist_sync, c.sync_qos))
    return finish(1);

  // Live publisher on this thread at a fixed rate; phases by send time.
  const int64_t start = MonoNs();
  const int64_t t_base = start + static_cast<int64_t>(c.warmup * 1e9);
  const int64_t t_sync = t_base + static_cast<int64_t>(c.baseline * 1e9);
  const int64_t t_end = t_sync + static_cast<int64_t>(c.duration * 1e9);
  base_from = t_base;
  sync_from = t_sync;
  sync_to = t_end;
  const int64_t interval = static_cast<int64_t>(1e9 / c.rate);
  uint64_t sent = 0;
  bool sync_started = false;
  uint64_t synced0 = 0;
  int64_t sync_t0 = 0;
  double bcpu0 = 0, scpu0 = 0, bcpu1 = 0, scpu1 = 0;
  double bcpu_b0 = BrokerCpuUs(c.broker_pid);
  bool base_sampled = false;
  std::map<int, double> other0, other1;
  const int self_pid = static_cast<int>(getpid());
  for (int64_t next = start; next < t_end; next += interval) {
    SleepUntilNs(next);
    if (!base_sampled && next >= t_base) {
      base_sampled = true;
      bcpu_b0 = BrokerCpuUs(c.broker_pid);
    }
    if (!sync_started && next >= t_sync) {
      sync_started = true;
      bcpu0 = BrokerCpuUs(c.broker_pid);
      other0 = OtherProcessesCpu({c.broker_pid, self_pid});
      scpu0 = SelfCpuUs();
      synced0 = synced.load();
      sync_t0 = MonoNs();
      syncing = true;
      request(0);
    }
    const int64_t now = MonoNs();
    if (!pub.Publish(live_msg, ChatPayload(2, sent, now, c.body), 1)) Error("live publish failed");
    ++sent;
  }
  const int64_t sync_t1 = MonoNs();
  const uint64_t synced1 = synced.load();
  bcpu1 = BrokerCpuUs(c.broker_pid);
  other1 = OtherProcessesCpu({c.broker_pid, self_pid});
  scpu1 = SelfCpuUs();
  syncing = false;
  // Drain: the live messages in flight.
  const int64_t drain_end = MonoNs() + 3000000000LL;
  while (live_received.load() < sent && MonoNs() < drain_end) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the current sync page

  const double sync_s = static_cast<double>(sync_t1 - sync_t0) / 1e9;
  const double base_s = static_cast<double>(t_sync - t_base) / 1e9;
  std::lock_guard<std::mutex> l(lat_mu);
  out["synced_msgs"] = synced1 - synced0;
  out["sync_s"] = std::round(sync_s * 1000) / 1000;
  out["synced_per_s"] = std::round(static_cast<double>(synced1 - synced0) / sync_s);
  out["sync_pages"] = pages.load();
  out["sync_full_cycles"] = cycles.load();
  out["history_head"] = last_head.load();
  out["live_rate"] = c.rate;
  out["live_sent"] = sent;
  out["live_received"] = live_received.load();
  out["live_loss"] = sent > live_received.load() ? sent - live_received.load() : 0;
  out["live_baseline_latency_us"] = Lat(lat_base);
  out["live_sync_latency_us"] = Lat(lat_sync);
  if (c.broker_pid > 0) {
    out["broker_cpu_util_baseline"] = std::round((bcpu0 - bcpu_b0) / (base_s * 1e6) * 100) / 100;
    out["broker_cpu_util"] = std::round((bcpu1 - bcpu0) / (sync_s * 1e6) * 100) / 100;
    out["other_cpu_cores"] = std::round(OtherCpuDelta(other0, other1) / (sync_s * 1e6) * 100) / 100;
  }
  out["client_cpu_util"] = std::round((scpu1 - scpu0) / (sync_s * 1e6) * 100) / 100;
  if (bad_replies.load()) Error("unreadable sync replies");
  if (live_malformed.load()) Error("live messages without bt");
  if (out["live_loss"].get<uint64_t>() > 0) Error("live messages lost");
  if (pages.load() == 0) Error("no sync reply");
  out["ok"] = true;
  return finish(0);
}
