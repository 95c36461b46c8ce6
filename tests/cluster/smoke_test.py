#!/usr/bin/python3
"""Smoke test of a running mosquitto-chat cluster (three nodes on one Redis).

    /usr/bin/python3 tests/cluster/smoke_test.py --ports 1891,1892,1893 \
        --chatctl build/tools/chatctl --jwks-private conf/jwks.private.json

Steps, each with a timeout (--step-timeout, 20 s):
  1. an admin creates the group channel smoke-<timestamp> (alice, bob, carol) via node1
  2. the channel document is retained on node2 and node3 (cluster propagation)
  3. carol subscribes to chat/<ch>/msg on node3; a watcher subscribes to presence/+ on node2
  4. bob connects on node2 (and subscribes to the channel): the watcher sees bob online
  5. alice publishes a message on node1 (QoS 1, MQTT 5) and gets a success PUBACK
  6. carol on node3 receives it with seq == head + 1 (1 on a new channel), from == alice
  7. bob on node2 receives it with the same seq
Connects are retried (--connect-timeout, 60 s) while nodes come up; every
connection gets a freshly minted single-use token. Prints PASS/FAIL/SKIP per
step and "smoke: N passed, N failed, N skipped"; exits 1 on any failure.

--chatctl is a command line (split like a shell would), so tokens can also be
minted inside a container: --chatctl 'docker-compose exec -T node1 chatctl'.
Standalone on purpose (Debian's python3-paho-mqtt 1.6.1 and python3-msgpack,
stdlib otherwise): it does not use tests/integration/chatharness.py.
"""

import argparse
import json
import os
import shlex
import struct
import subprocess
import sys
import threading
import time

import msgpack
import paho.mqtt.client as mqtt

MQTTv311 = mqtt.MQTTv311
MQTTv5 = mqtt.MQTTv5


class StepFailed(Exception):
    pass


def now_ms():
    return int(time.time() * 1000)


def decode(payload):
    return msgpack.unpackb(payload, raw=False, strict_map_key=False)


def describe(payload):
    try:
        value = decode(payload)
    except Exception:  # noqa: BLE001 - diagnostics only
        try:
            value = payload.decode()
        except Exception:  # noqa: BLE001
            value = payload[:80]
    return repr(value)


class Minter:
    """Mints single-use connect tokens with chatctl."""

    def __init__(self, chatctl, keys, kid, ttl):
        self.cmd = shlex.split(chatctl)
        self.keys = keys
        self.kid = kid
        self.ttl = ttl

    def token(self, sub, admin=False):
        args = self.cmd + ["token", "--keys", self.keys, "--kid", self.kid, "--sub", sub, "--ttl", str(self.ttl)]
        if admin:
            args.append("--admin")
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or not r.stdout.strip():
            raise StepFailed("chatctl token --sub %s failed (exit %d): %s"
                             % (sub, r.returncode, (r.stderr or r.stdout).strip()))
        return r.stdout.strip().splitlines()[-1].strip()


class _Paho(mqtt.Client):
    """paho 1.6.1 does not expose MQTT 5 PUBACK reason codes: note them before paho handles the packet."""

    def _handle_pubackcomp(self, cmd):
        if self._protocol == MQTTv5:
            packet = self._in_packet["packet"]
            mid, = struct.unpack("!H", packet[:2])
            self.smoke_ack_reasons[mid] = packet[2] if len(packet) > 2 else 0
        return super()._handle_pubackcomp(cmd)


_counter = [0]


class Conn:
    """One MQTT connection that records what it receives."""

    def __init__(self, host, port, user, token, protocol):
        _counter[0] += 1
        self.user = user
        self.port = port
        self.protocol = protocol
        self.client_id = "smoke-%s-%d-%d" % (user, os.getpid(), _counter[0])
        self.cond = threading.Condition()
        self.messages = []       # (topic, payload, retain, arrival index)
        self.subacks = {}
        self.published = set()
        self.connect_rc = None
        self.connack = threading.Event()
        self.disconnected = False
        kwargs = {"protocol": protocol}
        if protocol != MQTTv5:
            kwargs["clean_session"] = True
        self.mqtt = _Paho(self.client_id, **kwargs)
        self.mqtt.smoke_ack_reasons = {}
        self.mqtt.username_pw_set(user, token)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_disconnect = self._on_disconnect
        self.mqtt.on_message = self._on_message
        self.mqtt.on_subscribe = self._on_subscribe
        self.mqtt.on_publish = self._on_publish
        self.mqtt.connect(host, port, keepalive=30)  # raises OSError while the port is closed
        self.mqtt.loop_start()

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.connect_rc = rc.value if hasattr(rc, "value") else int(rc)
        self.connack.set()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self.cond:
            self.disconnected = True
            self.cond.notify_all()
        self.connack.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.cond:
            self.subacks[mid] = [c.value if hasattr(c, "value") else int(c) for c in granted]
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self.cond:
            self.published.add(mid)
            self.cond.notify_all()

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StepFailed("%s on port %d: no %s within %.0f s%s"
                                     % (self.user, self.port, what, timeout,
                                        " (disconnected)" if self.disconnected else ""))
                self.cond.wait(min(remaining, 0.5))

    def subscribe(self, topic, timeout):
        rc, mid = self.mqtt.subscribe(topic, 1)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise StepFailed("subscribe(%s) failed locally: %s" % (topic, mqtt.error_string(rc)))
        return self.wait(lambda: self.subacks.get(mid), timeout, "SUBACK for %s" % topic)

    def publish(self, topic, payload, timeout, retain=False):
        """QoS 1; waits for the PUBACK. Returns its MQTT 5 reason code (0 on MQTT 3.1.1)."""
        info = self.mqtt.publish(topic, payload, 1, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise StepFailed("publish(%s) failed locally: %s" % (topic, mqtt.error_string(info.rc)))
        self.wait(lambda: info.mid in self.published, timeout, "PUBACK for %s" % topic)
        return self.mqtt.smoke_ack_reasons.pop(info.mid, 0)

    def received(self, topic):
        with self.cond:
            return [m for m in self.messages if mqtt.topic_matches_sub(topic, m[0])]

    def close(self):
        try:
            if self.mqtt.is_connected():
                self.mqtt.disconnect()
        finally:
            self.mqtt.loop_stop()


class Smoke:
    def __init__(self, args):
        self.args = args
        self.ports = [int(p) for p in args.ports.split(",")]
        if len(self.ports) != 3:
            raise SystemExit("--ports needs three ports (node1,node2,node3); repeat one to use a single node")
        self.minter = Minter(args.chatctl, args.jwks_private, args.kid, args.token_ttl)
        self.ch = args.channel or "smoke-%d-%d" % (int(time.time()), os.getpid())
        self.conns = []
        self.results = []
        self.head = 0

    # ---- plumbing

    def connect(self, user, port, admin=False, protocol=MQTTv311):
        """Connects with a fresh token per attempt, retrying until --connect-timeout while the
        node does not listen yet or refuses (it may still be starting)."""
        deadline = time.monotonic() + self.args.connect_timeout
        last = "nothing tried"
        while True:
            token = self.minter.token(user, admin)
            try:
                c = Conn(self.args.host, port, user, token, protocol)
            except OSError as e:
                last = "port %d: %s" % (port, e)
            else:
                if c.connack.wait(self.args.step_timeout) and c.connect_rc == 0:
                    self.conns.append(c)
                    return c
                last = ("port %d: CONNACK %s" % (port, c.connect_rc) if c.connect_rc is not None
                        else "port %d: no CONNACK" % port)
                c.close()
            if time.monotonic() >= deadline:
                raise StepFailed("%s could not connect within %.0f s (last: %s)"
                                 % (user, self.args.connect_timeout, last))
            time.sleep(0.5)

    def subscribe_granted(self, conn, topic):
        """Subscribes until the SUBACK grants it (a node may not know the channel yet)."""
        deadline = time.monotonic() + self.args.step_timeout
        while True:
            codes = conn.subscribe(topic, self.args.step_timeout)
            if codes and codes[0] < 0x80:
                return
            if time.monotonic() >= deadline:
                raise StepFailed("%s on port %d: SUBACK %s for %s" % (conn.user, conn.port, codes, topic))
            time.sleep(0.5)

    def step(self, name, fn):
        if any(r == "FAIL" for r, _ in self.results):
            self.results.append(("SKIP", name))
            print("SKIP  %s" % name, flush=True)
            return
        start = time.monotonic()
        try:
            detail = fn()
        except StepFailed as e:
            self.results.append(("FAIL", name))
            print("FAIL  %s [%.2f s]: %s" % (name, time.monotonic() - start, e), flush=True)
            return
        except Exception as e:  # noqa: BLE001 - report anything as a failed step
            self.results.append(("FAIL", name))
            print("FAIL  %s [%.2f s]: %s: %s" % (name, time.monotonic() - start, type(e).__name__, e), flush=True)
            return
        self.results.append(("PASS", name))
        print("PASS  %s [%.2f s]%s" % (name, time.monotonic() - start, (": " + detail) if detail else ""),
              flush=True)

    # ---- steps

    def create_channel(self):
        admin = self.connect("smoke-admin", self.ports[0], admin=True, protocol=MQTTv5)
        doc = {"type": "group", "members": ["alice", "bob", "carol"]}
        reason = admin.publish("$chat/admin/channels/" + self.ch, json.dumps(doc), self.args.step_timeout,
                               retain=True)
        if reason >= 0x80:
            time.sleep(0.3)
            errors = [describe(p) for _, p, _ in admin.received("$chat/admin/error")]
            raise StepFailed("PUBACK reason 0x%02x for the channel document %s" % (reason, errors))
        return "%s on port %d" % (self.ch, self.ports[0])

    def channel_everywhere(self):
        seen = []
        for port in dict.fromkeys(self.ports[1:]):
            w = self.connect("smoke-admin", port, admin=True)
            topic = "$chat/admin/channels/" + self.ch
            self.subscribe_granted(w, topic)
            w.wait(lambda: any(p for _, p, _ in w.received(topic)), self.args.step_timeout,
                   "retained document of %s" % self.ch)
            w.close()
            seen.append(str(port))
        return "retained on port(s) %s" % ",".join(seen)

    def subscribe_carol_and_watcher(self):
        self.carol = self.connect("carol", self.ports[2])
        self.subscribe_granted(self.carol, "chat/%s/msg" % self.ch)
        if self.args.channel:
            self.head = self.channel_head(self.carol)
        self.watcher = self.connect("smoke-watcher", self.ports[1])
        self.subscribe_granted(self.watcher, "presence/+")
        return "carol on %d, watcher on %d%s" % (self.ports[2], self.ports[1],
                                                   ", head %d" % self.head if self.args.channel else "")

    def channel_head(self, conn):
        """The channel's highest seq, by a sync request that asks for nothing after it."""
        topic = "chat/%s/sync" % self.ch
        n = len(conn.received(topic))
        conn.publish(topic, msgpack.packb({"after": 2 ** 62, "limit": 1}), self.args.step_timeout)
        conn.wait(lambda: len(conn.received(topic)) > n, self.args.step_timeout, "sync reply")
        reply = decode(conn.received(topic)[-1][1])
        return int(reply["head"])

    def bob_online(self):
        connected_at = now_ms()
        self.bob = self.connect("bob", self.ports[1])
        self.subscribe_granted(self.bob, "chat/%s/msg" % self.ch)

        def online():
            for _, payload, retain in self.watcher.received("presence/bob"):
                p = decode(payload)
                # A live update, or a retained one newer than this connect (seconds or ms).
                since = p.get("since", 0)
                fresh = not retain or since >= connected_at - 5000 or since >= connected_at // 1000 - 5
                if p.get("status") == "online" and p.get("user") == "bob" and fresh:
                    return p
            return None

        try:
            p = self.watcher.wait(online, self.args.step_timeout, "presence/bob online")
        except StepFailed as e:
            got = [describe(pl) for _, pl, _ in self.watcher.received("presence/bob")]
            raise StepFailed("%s; presence/bob received: %s" % (e, got))
        return "watcher on %d saw %r" % (self.ports[1], p)

    def alice_publishes(self):
        alice = self.connect("alice", self.ports[0], protocol=MQTTv5)
        self.msg_id = os.urandom(16)
        self.body = "smoke %s" % self.ch
        payload = msgpack.packb({"id": self.msg_id, "ts": now_ms(), "body": self.body}, use_bin_type=True)
        reason = alice.publish("chat/%s/msg" % self.ch, payload, self.args.step_timeout)
        if reason >= 0x80:
            time.sleep(0.3)
            errors = [describe(p) for _, p, _ in alice.received("chat/%s/error" % self.ch)]
            raise StepFailed("PUBACK reason 0x%02x; errors: %s" % (reason, errors))
        return "id %s on port %d" % (self.msg_id.hex(), self.ports[0])

    def received_by(self, name):
        conn = getattr(self, name)
        topic = "chat/%s/msg" % self.ch

        def mine():
            for _, payload, _ in conn.received(topic):
                m = decode(payload)
                if m.get("id") == self.msg_id:
                    return m
            return None

        try:
            m = conn.wait(mine, self.args.step_timeout, "delivery of alice's message")
        except StepFailed as e:
            raise StepFailed("%s; got on %s: %s" % (e, topic, [describe(p) for _, p, _ in conn.received(topic)]))
        want = {"seq": self.head + 1, "from": "alice", "ch": self.ch, "body": self.body}
        wrong = {k: m.get(k) for k, v in want.items() if m.get(k) != v}
        if wrong or not isinstance(m.get("sts"), int):
            raise StepFailed("%s got %r; expected %r" % (name, m, want))
        return "%s on %d: seq %d from %s" % (name, conn.port, m["seq"], m["from"])

    def run(self):
        a = self.args
        print("smoke: channel %s, node ports %s, chatctl %r" % (self.ch, a.ports, a.chatctl), flush=True)
        try:
            self.step("admin creates channel %s via node1" % self.ch, self.create_channel)
            self.step("channel document reaches node2 and node3", self.channel_everywhere)
            self.step("carol subscribes on node3, watcher on presence/+ on node2", self.subscribe_carol_and_watcher)
            self.step("bob connects on node2; the watcher sees bob online", self.bob_online)
            self.step("alice publishes on node1 (QoS 1, PUBACK success)", self.alice_publishes)
            self.step("carol on node3 receives it (seq head+1, from alice)", lambda: self.received_by("carol"))
            self.step("bob on node2 receives it (same seq)", lambda: self.received_by("bob"))
        finally:
            for c in self.conns:
                c.close()
        counts = {r: sum(1 for x, _ in self.results if x == r) for r in ("PASS", "FAIL", "SKIP")}
        print("smoke: %d passed, %d failed, %d skipped" % (counts["PASS"], counts["FAIL"], counts["SKIP"]),
              flush=True)
        return 1 if counts["FAIL"] else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ports", default="1891,1892,1893", help="node1,node2,node3 ports (default %(default)s)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--chatctl", required=True, help="chatctl command line (split like a shell)")
    p.add_argument("--jwks-private", required=True, help="private JWKS, as the chatctl command sees it")
    p.add_argument("--kid", default="demo1-es256", help="signing key id (default %(default)s)")
    p.add_argument("--token-ttl", type=int, default=120)
    p.add_argument("--channel", help="channel name (default smoke-<time>-<pid>); an existing channel: seq head+1")
    p.add_argument("--step-timeout", type=float, default=20.0)
    p.add_argument("--connect-timeout", type=float, default=60.0)
    sys.exit(Smoke(p.parse_args()).run())


if __name__ == "__main__":
    main()
