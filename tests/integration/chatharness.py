"""Black-box harness for mosquitto-chat: a real mosquitto with the plugin, real MQTT clients.

Environment (set by ctest, see tests/CMakeLists.txt):
  CHAT_PLUGIN           path of mosquitto_chat.so
  CHATCTL               path of chatctl (keygen, token)
  CHAT_BROKER_PRELOAD   optional: LD_PRELOAD for the broker (sanitizer runtime); the
                        broker's log and stderr must then be free of sanitizer reports.

Only Debian's python3 with python3-paho-mqtt 1.6.1 and python3-msgpack.
"""

import atexit
import base64
import hashlib
import hmac
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
from collections import namedtuple

import msgpack
import paho.mqtt.client as mqtt

MQTTv311 = mqtt.MQTTv311
MQTTv5 = mqtt.MQTTv5

# CONNACK codes for a refused connect token (spec section 1).
CONNACK_REFUSED_V311 = 5
CONNACK_REFUSED_V5 = 0x87
# SUBACK codes for a refused subscription (spec section 3).
SUBACK_REFUSED_V311 = 0x80
SUBACK_REFUSED_V5 = 0x87

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:")


def _required_path(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError("%s is not set: run the integration tests through ctest "
                           "(ctest -L integration) or export it" % name)
    if not os.path.exists(value):
        raise RuntimeError("%s=%s does not exist: build it first" % (name, value))
    return value


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ms():
    return int(time.time() * 1000)


def poll(predicate, timeout=5.0, interval=0.05, what="condition"):
    """Calls predicate until it returns a true value; returns that value or raises."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# --------------------------------------------------------------------------- broker

_live_brokers = set()


@atexit.register
def _kill_live_brokers():
    for broker in list(_live_brokers):
        try:
            broker.kill()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


class Broker:
    """One mosquitto process with the chat plugin, in its own directory."""

    def __init__(self, options=None, extra_conf="", persistence=False, workdir=None, jwks=None, port=None):
        self.plugin = _required_path("CHAT_PLUGIN")
        self.owns_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="chat-broker-")
        self.port = port or free_port()
        self.options = dict(options or {})
        self.extra_conf = extra_conf
        self.persistence = persistence
        self.conf_path = os.path.join(self.dir, "mosquitto.conf")
        self.log_path = os.path.join(self.dir, "broker.log")
        self.stderr_path = os.path.join(self.dir, "broker.stderr")
        self.jwks_path = os.path.join(self.dir, "jwks.json")
        self.proc = None
        self.returncode = None
        if jwks is not None:
            self.set_jwks(jwks)
        self.write_conf()

    # ---- configuration

    def write_conf(self):
        lines = [
            "listener %d 127.0.0.1" % self.port,
            "allow_anonymous false",
            "user %s" % pwd.getpwuid(os.getuid()).pw_name,
            "log_dest file %s" % self.log_path,
            "log_type all",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if self.persistence:
            lines += ["persistence true", "persistence_location %s/" % self.dir]
        lines += [
            "plugin %s" % self.plugin,
            "plugin_opt_local_dir %s" % self.dir,
            "plugin_opt_store memory",
            "plugin_opt_jwks_file %s" % self.jwks_path,
        ]
        for key, value in self.options.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            lines.append("plugin_opt_%s %s" % (key, value))
        if self.extra_conf:
            lines.append(self.extra_conf)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def set_jwks(self, jwks):
        """Writes the broker's JWKS file: a Keys object (its public JWKS) or JSON text."""
        text = jwks.public_text() if isinstance(jwks, Keys) else jwks
        tmp = self.jwks_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.jwks_path)

    # ---- process

    def _command(self):
        cmd = ["setpriv", "--pdeathsig", "KILL", "--"]  # never outlive the test process
        preload = os.environ.get("CHAT_BROKER_PRELOAD")
        if preload:
            # Only the broker gets the sanitizer runtime, not setpriv.
            cmd += ["env", "LD_PRELOAD=" + preload]
        return cmd + ["mosquitto", "-c", self.conf_path]

    def _env(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")}
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    def spawn(self):
        """Starts the process without waiting for it to listen."""
        assert self.proc is None, "broker already running"
        self.returncode = None
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self._command(), env=self._env(), stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=self._stderr, cwd=self.dir)
        _live_brokers.add(self)

    def start(self, timeout=10.0):
        self.spawn()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self._reap()
                self.check_sanitizers()
                raise AssertionError("mosquitto exited with %s at start\n%s" % (rc, self.tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.kill()
                raise AssertionError("mosquitto did not listen on port %d within %.0f s\n%s"
                                     % (self.port, timeout, self.tail()))
            time.sleep(0.02)

    def wait_exit(self, timeout=10.0):
        """For brokers expected to stop on their own: returns the exit status."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("mosquitto still running after %.0f s\n%s" % (timeout, self.tail()))
        rc = self.proc.returncode
        self._reap()
        self.check_sanitizers()
        return rc

    def _reap(self):
        self.returncode = self.proc.returncode
        self.proc = None
        self._stderr.close()
        _live_brokers.discard(self)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after `timeout`. Fails if the broker had died on its own, did not
        exit cleanly, or (under CHAT_BROKER_PRELOAD) reported a sanitizer error."""
        if self.proc is None:
            return
        died = self.proc.poll() is not None
        hung = False
        if not died:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                hung = True
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self._reap()
        self.check_sanitizers()
        if died:
            raise AssertionError("mosquitto died during the test (exit status %s)\n%s" % (rc, self.tail()))
        if hung:
            raise AssertionError("mosquitto ignored SIGTERM for %.0f s\n%s" % (timeout, self.tail()))
        if rc != 0:
            raise AssertionError("mosquitto exited with status %s on SIGTERM\n%s" % (rc, self.tail()))

    def kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reap()

    def restart(self):
        self.stop()
        return self.start()

    def sighup(self):
        self.assert_alive()
        self.proc.send_signal(signal.SIGHUP)

    def cleanup(self):
        """For addCleanup: stop, then remove the directory (kept when the broker misbehaved)."""
        self.stop()
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- observation

    def log(self):
        parts = []
        for path in (self.log_path, self.stderr_path):
            try:
                with open(path, errors="replace") as f:
                    parts.append(f.read())
            except FileNotFoundError:
                pass
        return "\n".join(parts)

    def tail(self, lines=40):
        return "---- broker log tail (%s) ----\n%s" % (self.dir, "\n".join(self.log().splitlines()[-lines:]))

    def wait_log(self, text, timeout=5.0):
        return poll(lambda: text in self.log(), timeout, what="%r in the broker log" % text)

    def assert_alive(self):
        if not self.running():
            rc = self.proc.returncode if self.proc is not None else self.returncode
            raise AssertionError("mosquitto is not running (exit status %s)\n%s" % (rc, self.tail()))

    def check_sanitizers(self):
        if not os.environ.get("CHAT_BROKER_PRELOAD"):
            return
        text = self.log()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                at = text.index(marker)
                raise AssertionError("sanitizer report in the broker output:\n%s" % text[max(0, at - 200):at + 4000])


# --------------------------------------------------------------------------- redis

class RedisServer:
    """One redis-server on a loopback port, AOF with appendfsync always (so a kill -9 loses
    nothing it acknowledged), in its own directory; dies with the test process."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="chat-redis-")
        self.proc = None
        self.url = "redis://127.0.0.1:%d/0" % self.port

    def start(self, timeout=10.0):
        assert self.proc is None, "redis already running"
        self._log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--", "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--dir", self.dir, "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, cwd=self.dir)
        poll(lambda: self.proc.poll() is not None or self.ping(), timeout, what="redis to answer PING")
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited at start; see %s/redis.log" % self.dir)
        return self

    def ping(self):
        try:
            return self.cli("PING").strip() == "PONG"
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def cli(self, *args):
        """Runs one command with redis-cli; returns its raw output."""
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--raw"] + list(args),
                             capture_output=True, timeout=10, check=True)
        return out.stdout.decode(errors="replace")

    def kill(self):
        """SIGKILL, as a crash."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc = None
        self._log.close()

    def restart(self):
        """Starts again on the same port and directory: the AOF brings the data back."""
        self.kill()
        return self.start()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- keys and tokens

class Keys:
    """A key pair set made by `chatctl keygen`: one ES256 and one HS256 key."""

    def __init__(self, directory, kid_prefix="test"):
        self.chatctl = _required_path("CHATCTL")
        os.makedirs(directory, exist_ok=True)
        self.private = os.path.join(directory, "private.json")
        self.public = os.path.join(directory, "public.json")
        self.es256_kid = kid_prefix + "-es256"
        self.hs256_kid = kid_prefix + "-hs256"
        self._run("keygen", "--out-private", self.private, "--out-public", self.public,
                  "--kid-prefix", kid_prefix)

    def _run(self, *args):
        r = subprocess.run([self.chatctl, *args], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("chatctl %s failed (%d): %s" % (args[0], r.returncode, r.stderr))
        return r.stdout

    def token(self, sub, admin=False, ttl=60, kid=None, jti=None, iat=None):
        args = ["token", "--keys", self.private, "--kid", kid or self.es256_kid, "--sub", sub, "--ttl", str(ttl)]
        if admin:
            args.append("--admin")
        if jti is not None:
            args += ["--jti", jti]
        if iat is not None:
            args += ["--iat", str(int(iat))]
        return self._run(*args).strip()

    def public_text(self):
        with open(self.public) as f:
            return f.read()

    def hs256_secret(self):
        """The raw HS256 secret, for crafting tokens chatctl will not make."""
        with open(self.private) as f:
            for key in json.load(f)["keys"]:
                if key.get("kid") == self.hs256_kid:
                    return b64url_decode(key["k"])
        raise AssertionError("no HS256 key in " + self.private)


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def craft_hs256_token(secret, header, claims):
    """A compact JWS signed with HMAC-SHA256 over arbitrary header and claims."""
    signing_input = "%s.%s" % (b64url_encode(json.dumps(header).encode()), b64url_encode(json.dumps(claims).encode()))
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url_encode(sig)


# --------------------------------------------------------------------------- clients

Message = namedtuple("Message", "topic payload qos retain")
PublishResult = namedtuple("PublishResult", "mid reason")  # reason: MQTT 5 ack reason code, None on 3.1.1


class _Paho(mqtt.Client):
    """paho 1.6.1 parses but does not expose MQTT 5 PUBACK/PUBREC/PUBCOMP reason codes:
    note them before paho handles the packet."""

    def _note_ack(self):
        if self._protocol != MQTTv5:
            return
        packet = self._in_packet["packet"]
        mid, = struct.unpack("!H", packet[:2])
        reason = packet[2] if len(packet) > 2 else 0
        self.chat_ack_reasons.setdefault(mid, []).append(reason)

    def _handle_pubackcomp(self, cmd):
        self._note_ack()
        return super()._handle_pubackcomp(cmd)

    def _handle_pubrec(self):
        self._note_ack()
        return super()._handle_pubrec()


_client_counter = [0]
_client_counter_lock = threading.Lock()


def _next_client_id(user):
    with _client_counter_lock:
        _client_counter[0] += 1
        return "it-%s-%d-%d" % (user or "anon", os.getpid(), _client_counter[0])


class Client:
    """One MQTT connection (paho-mqtt 1.6.1) that records everything it receives.

    `user` is the MQTT username (None: no username, MQTT 5 only), `token` the password.
    After construction `connect_rc` holds the CONNACK code (MQTT 5: the reason code value),
    or None if the broker closed the connection without one.
    """

    def __init__(self, broker, user, token=None, protocol=MQTTv311, client_id=None, timeout=5.0):
        self.broker = broker
        self.user = user
        self.protocol = protocol
        self.client_id = client_id or _next_client_id(user)
        self._cond = threading.Condition()
        self._messages = []
        self._subacks = {}
        self._published = set()
        self.connect_rc = None
        self._connack = threading.Event()
        self.disconnects = []
        self._closing = False

        kwargs = {"protocol": protocol, "reconnect_on_failure": False}
        if protocol != MQTTv5:
            kwargs["clean_session"] = True
        self.mqtt = _Paho(self.client_id, **kwargs)
        self.mqtt.chat_ack_reasons = {}
        if user is not None or token is not None:
            self.mqtt.username_pw_set(user, token)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_disconnect = self._on_disconnect
        self.mqtt.on_message = self._on_message
        self.mqtt.on_subscribe = self._on_subscribe
        self.mqtt.on_publish = self._on_publish
        self.mqtt.connect("127.0.0.1", broker.port, keepalive=30)
        self.mqtt.loop_start()
        if not self._connack.wait(timeout):
            self.close()
            raise AssertionError("no CONNACK within %.0f s for %s" % (timeout, self.client_id))

    # ---- paho callbacks (network thread)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.connect_rc = rc.value if hasattr(rc, "value") else int(rc)
        if self.connect_rc != 0:
            self._closing = True
            client.disconnect()
        self._connack.set()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self._cond:
            self.disconnects.append(rc.value if hasattr(rc, "value") else rc)
            self._cond.notify_all()
        self._connack.set()

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self._messages.append(Message(msg.topic, msg.payload, msg.qos, bool(msg.retain)))
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        codes = [c.value if hasattr(c, "value") else int(c) for c in granted]
        with self._cond:
            self._subacks[mid] = codes
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self._cond:
            self._published.add(mid)
            self._cond.notify_all()

    # ---- state

    @property
    def connected(self):
        return self.connect_rc == 0 and not self.disconnects and self.mqtt.is_connected()

    def assert_connected(self):
        if not self.connected:
            raise AssertionError("client %s is not connected (CONNACK %s, disconnects %s)"
                                 % (self.client_id, self.connect_rc, self.disconnects))

    def close(self):
        if self._closing:
            self.mqtt.loop_stop()
            return
        self._closing = True
        try:
            if self.mqtt.is_connected():
                self.mqtt.disconnect()
        finally:
            self.mqtt.loop_stop()

    # ---- actions

    def _wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("%s: timed out after %.1f s waiting for %s (disconnects %s)"
                                         % (self.client_id, timeout, what, self.disconnects))
                self._cond.wait(remaining)

    def subscribe(self, topic, qos=1, timeout=5.0):
        """Subscribes and waits for the SUBACK; returns its codes (one per filter)."""
        rc, mid = self.mqtt.subscribe(topic, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError("subscribe(%s) failed locally: %s" % (topic, mqtt.error_string(rc)))
        self._wait(lambda: mid in self._subacks, timeout, "SUBACK for %s" % topic)
        return self._subacks[mid]

    def publish(self, topic, payload, qos=1, retain=False, timeout=5.0):
        """Publishes and waits until the broker acknowledged it (QoS 0: until sent)."""
        info = self.publish_nowait(topic, payload, qos, retain)
        self._wait(lambda: info.mid in self._published, timeout, "the acknowledgement of a publish to %s" % topic)
        return self.ack_of(info)

    def publish_nowait(self, topic, payload, qos=1, retain=False):
        info = self.mqtt.publish(topic, payload, qos, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError("publish(%s) failed locally: %s" % (topic, mqtt.error_string(info.rc)))
        return info

    def wait_published(self, infos, timeout=10.0):
        self._wait(lambda: all(i.mid in self._published for i in infos), timeout, "%d acknowledgements" % len(infos))
        return [self.ack_of(i) for i in infos]

    def ack_of(self, info):
        """MQTT 5: the first failure reason code among the acks of this publish, else the last one."""
        if self.protocol != MQTTv5 or info.mid is None:
            return PublishResult(info.mid, None)
        reasons = self.mqtt.chat_ack_reasons.pop(info.mid, [])
        failures = [r for r in reasons if r >= 0x80]
        return PublishResult(info.mid, failures[0] if failures else (reasons[-1] if reasons else 0))

    # ---- what arrived

    def messages(self, topic_filter="#"):
        with self._cond:
            return [m for m in self._messages if mqtt.topic_matches_sub(topic_filter, m.topic)]

    def clear(self):
        with self._cond:
            self._messages.clear()

    def wait_messages(self, topic_filter, n=1, timeout=5.0):
        """Waits until at least n messages matching topic_filter arrived; returns all of them."""
        self._wait(lambda: len([m for m in self._messages if mqtt.topic_matches_sub(topic_filter, m.topic)]) >= n,
                   timeout, "%d message(s) on %s (got %s)" % (n, topic_filter, self._summary(topic_filter)))
        return self.messages(topic_filter)

    def expect_none(self, topic_filter, seconds=0.5):
        """Asserts that nothing matching topic_filter arrives (or arrived) within `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            got = self.messages(topic_filter)
            if got:
                raise AssertionError("%s: unexpected message(s) on %s: %s"
                                     % (self.client_id, topic_filter, [describe(m) for m in got]))
            if time.monotonic() >= deadline:
                return
            time.sleep(0.02)

    def _summary(self, topic_filter):
        return [describe(m) for m in self._messages if mqtt.topic_matches_sub(topic_filter, m.topic)][:5]

    def sync(self, timeout=5.0):
        """Round trip through the broker on a private plain topic: whatever the broker queued to
        this client before (retained messages after a SUBACK, routed publishes) has arrived."""
        topic = "it-sync/" + self.client_id
        if not getattr(self, "_sync_subscribed", False):
            self.subscribe(topic, 1)
            self._sync_subscribed = True
        n = len(self.messages(topic)) + 1
        self.publish(topic, b"sync", qos=1)
        self.wait_messages(topic, n, timeout)

    # chat conveniences

    def chat(self, topic_filter, n=1, timeout=5.0):
        """The decoded chat payloads received on topic_filter, waiting for at least n."""
        return [decode(m.payload) for m in self.wait_messages(topic_filter, n, timeout)]


def raw_connect_v5(port, client_id, username=None, password=None, timeout=5.0):
    """An MQTT 5 CONNECT sent by hand, for what paho 1.6.1 cannot send (a password without a
    username). Returns the CONNACK reason code, or None if the broker closed the connection."""

    def varint(n):
        out = bytearray()
        while True:
            n, digit = n >> 7, n & 0x7F
            out.append(digit | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def utf8(s):
        b = s.encode() if isinstance(s, str) else s
        return struct.pack("!H", len(b)) + b

    flags = 0x02  # clean start
    payload = utf8(client_id)
    if username is not None:
        flags |= 0x80
        payload += utf8(username)
    if password is not None:
        flags |= 0x40
        payload += utf8(password)
    variable = utf8("MQTT") + bytes([5, flags]) + struct.pack("!H", 30) + varint(0)
    body = variable + payload
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"\x10" + varint(len(body)) + body)
        data = b""
        while len(data) < 4:
            chunk = s.recv(64)
            if not chunk:
                return None
            data += chunk
        if data[0] != 0x20:
            raise AssertionError("expected CONNACK, got packet type 0x%02x" % data[0])
        return data[3]


# --------------------------------------------------------------------------- payloads

def new_id(size=16):
    return os.urandom(size)


def chat_message(id=None, ts=None, body="hi", **extra):
    """A client chat message: msgpack map with id (bin), ts (ms), body, and any extra keys."""
    msg = {"id": new_id() if id is None else id, "ts": now_ms() if ts is None else ts, "body": body}
    msg.update(extra)
    return msgpack.packb(msg, use_bin_type=True)


def raw_map(pairs):
    """A msgpack map from (key, value) pairs, duplicates allowed (msgpack.packb cannot)."""
    n = len(pairs)
    header = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack("!H", n)
    return header + b"".join(msgpack.packb(k, use_bin_type=True) + msgpack.packb(v, use_bin_type=True)
                             for k, v in pairs)


def decode(payload):
    return msgpack.unpackb(payload, raw=False, strict_map_key=False)


def decode_pairs(payload):
    """The map's (key, value) pairs in wire order, duplicates kept."""
    return msgpack.unpackb(payload, raw=False, strict_map_key=False, object_pairs_hook=list)


def describe(m):
    try:
        body = decode(m.payload)
    except Exception:  # noqa: BLE001 - diagnostics only
        body = m.payload[:60]
    return "%s%s %r" % (m.topic, " (retained)" if m.retain else "", body)


# --------------------------------------------------------------------------- test case base

class ChatTestCase(unittest.TestCase):
    """Keys per class; brokers and clients per test, always cleaned up."""

    kid_prefix = "it"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="chat-it-%s-" % cls.__name__)
        cls.keys = Keys(os.path.join(cls.tmp, "keys"), cls.kid_prefix)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def start_broker(self, options=None, extra_conf="", persistence=False, workdir=None, jwks=None, port=None):
        broker = Broker(options, extra_conf, persistence, workdir, jwks if jwks is not None else self.keys, port)
        self.addCleanup(broker.cleanup)  # added before start: stopped even if start fails half way
        broker.start()
        self.broker = broker
        return broker

    def start_redis(self):
        redis = RedisServer()
        self.addCleanup(redis.cleanup)
        redis.start()
        self.redis = redis
        return redis

    def start_cluster(self, nodes=3, options=None, persistence=False):
        """A Redis and `nodes` brokers on the redis store (node1, node2, ...); returns the brokers."""
        redis = getattr(self, "redis", None) or self.start_redis()
        brokers = []
        for i in range(nodes):
            opts = {"store": "redis", "redis_url": redis.url, "node_id": "node%d" % (i + 1)}
            opts.update(options or {})
            brokers.append(self.start_broker(opts, persistence=persistence))
        self.broker = brokers[0]
        self.nodes = brokers
        return brokers

    def client(self, user, token=None, protocol=MQTTv311, broker=None, client_id=None):
        """A connection whatever its CONNACK; closed at cleanup."""
        c = Client(broker or self.broker, user, token, protocol, client_id)
        self.addCleanup(c.close)
        return c

    def connect(self, user, admin=False, protocol=MQTTv311, broker=None, **token_args):
        """A connection of `user` with a fresh valid token; asserts it was accepted."""
        token = self.keys.token(user, admin=admin, **token_args)
        c = self.client(user, token, protocol, broker)
        self.assertEqual(c.connect_rc, 0, "connect of %s refused (CONNACK %s)\n%s"
                         % (user, c.connect_rc, (broker or self.broker).tail()))
        return c

    # ---- channels, through the admin surface (spec section 6)

    def admin_client(self, broker=None):
        broker = broker or self.broker
        admins = self.__dict__.setdefault("_admins", {})
        c = admins.get(id(broker))
        if c is None or not c.connected:
            c = self.connect("it-admin", admin=True, protocol=MQTTv5, broker=broker)
            admins[id(broker)] = c
        return c

    def set_channel(self, ch, type="group", members=(), broker=None, **extra):
        doc = {"type": type, "members": list(members)}
        doc.update(extra)
        r = self.admin_client(broker).publish(admin_topic(ch), json.dumps(doc), qos=1, retain=True)
        self.assertLess(r.reason, 0x80, "channel document for %s refused: %r" % (ch, doc))

    def delete_channel(self, ch, broker=None):
        r = self.admin_client(broker).publish(admin_topic(ch), b"", qos=1, retain=True)
        self.assertLess(r.reason, 0x80, "deleting channel %s refused" % ch)

    def retained_channel_docs(self, broker=None):
        """What a new admin subscriber to $chat/admin/channels/+ gets: {channel: document}."""
        watcher = self.connect("it-watcher", admin=True, broker=broker)
        self.assertEqual(watcher.subscribe(admin_topic("+")), [1])
        watcher.sync()
        docs = {}
        for m in watcher.messages(admin_topic("+")):
            self.assertTrue(m.retain, "not a retained document: %s" % describe(m))
            docs[m.topic[len(admin_topic("")):]] = json.loads(m.payload)
        watcher.close()
        return docs

    # ---- chat

    def send(self, client, ch, qos=1, **fields):
        """Publishes a valid chat message; returns its id."""
        payload = chat_message(**fields)
        client.publish(msg_topic(ch), payload, qos=qos)
        return decode(payload)["id"]

    def assert_delivered_once(self, receivers, ch, msg_id, timeout=5.0):
        """Each receiver got exactly one delivery of msg_id on the channel; returns them."""
        out = []
        for r in receivers:
            poll(lambda: any(d["id"] == msg_id for d in self.deliveries(r, ch)), timeout,
                 what="%s to receive %s on %s" % (r.client_id, msg_id.hex(), ch))
            got = [d for d in self.deliveries(r, ch) if d["id"] == msg_id]
            self.assertEqual(len(got), 1, "%s got message %s %d times" % (r.client_id, msg_id.hex(), len(got)))
            out.append(got[0])
        return out

    def barrier(self, sender, receivers, ch):
        """Sends a fresh message and waits until every receiver has it once. The broker routes
        in order, so whatever was acknowledged before it has been delivered (or dropped) by
        then. Returns each receiver's copy."""
        msg_id = self.send(sender, ch, body="barrier")
        return self.assert_delivered_once(receivers, ch, msg_id)

    def assert_error(self, client, ch, code, msg_id=None, n=1, timeout=5.0, id_required=True):
        """The n-th error received on <prefix>/<ch>/error has `code`, a reason, and the id
        (msg_id None: no id; id_required False: the id, if present, is msg_id). Returns it decoded."""
        err = decode(client.wait_messages(error_topic(ch), n, timeout)[n - 1].payload)
        self.assertEqual(err.get("code"), code, "error: %r" % err)
        self.assertIsInstance(err.get("reason"), str, "error: %r" % err)
        self.assertTrue(err["reason"], "empty reason: %r" % err)
        if msg_id is None:
            self.assertNotIn("id", err)
        elif id_required or "id" in err:
            self.assertIsInstance(err.get("id"), bytes, "error id must be bin: %r" % err)
            self.assertEqual(err["id"], msg_id, "error: %r" % err)
        return err

    @staticmethod
    def deliveries(client, ch):
        return [decode(m.payload) for m in client.messages(msg_topic(ch))]


def msg_topic(ch, prefix="chat"):
    return "%s/%s/msg" % (prefix, ch)


def error_topic(ch, prefix="chat"):
    return "%s/%s/error" % (prefix, ch)


def admin_topic(ch):
    return "$chat/admin/channels/" + ch


ADMIN_ERROR_TOPIC = "$chat/admin/error"
