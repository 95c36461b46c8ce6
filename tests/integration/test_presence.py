"""Presence (spec section 5): retained presence/<user>, counted over devices,
right across takeover, unclean disconnects, keepalive timeouts and restarts."""

import socket
import struct
import time
import unittest

from chatharness import ChatTestCase, decode, poll


def raw_connect(port, client_id, user, token, keepalive=60):
    """An MQTT 3.1.1 connection on a bare socket, so the test decides how it ends."""
    def utf8(b):
        return struct.pack("!H", len(b)) + b

    body = (utf8(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", keepalive) + utf8(client_id.encode())
            + utf8(user.encode()) + utf8(token.encode()))
    length = bytearray()
    n = len(body)
    while True:
        n, digit = n >> 7, n & 0x7F
        length.append(digit | (0x80 if n else 0))
        if not n:
            break
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x10" + bytes(length) + body)
    connack = s.recv(4)
    return s, connack[3]


class PresenceTest(ChatTestCase):
    def watcher(self):
        w = self.connect("watcher")
        w.subscribe("presence/+")
        return w

    def latest(self, watcher, user, timeout=5.0, **expected):
        """Waits until the newest presence of `user` matches `expected`; returns it."""
        def newest():
            got = [decode(m.payload) for m in watcher.messages("presence/" + user)]
            return got[-1] if got else None

        poll(lambda: newest() is not None and all(newest().get(k) == v for k, v in expected.items()),
             timeout, what="presence of %s to be %r (last: %r)" % (user, expected, newest()))
        return newest()

    def test_devices_online_offline(self):
        self.start_broker()
        w = self.watcher()
        phone = self.connect("alice")
        first = self.latest(w, "alice", status="online", devices=1)
        self.assertEqual(first["user"], "alice")
        laptop = self.connect("alice")
        self.assertEqual(self.latest(w, "alice", devices=2)["since"], first["since"], "since moves with status only")
        phone.close()
        self.assertEqual(self.latest(w, "alice", devices=1)["status"], "online")
        laptop.close()
        last = self.latest(w, "alice", status="offline", devices=0)
        self.assertGreaterEqual(last["since"], first["since"])
        # Retained: a later subscriber sees the current state at once.
        late = self.connect("late")
        late.subscribe("presence/alice")
        late.sync()
        self.assertEqual(decode(late.messages("presence/alice")[-1].payload)["status"], "offline")

    def test_unclean_disconnect_and_takeover(self):
        self.start_broker()
        w = self.watcher()
        c = self.connect("bob")
        self.latest(w, "bob", status="online", devices=1)
        # Session takeover: the same client id connects again.
        again = self.client("bob", self.keys.token("bob"), client_id=c.client_id)
        self.assertEqual(again.connect_rc, 0)
        poll(lambda: not c.connected, 5, what="the old connection to be taken over")
        w.sync()
        self.assertEqual(self.latest(w, "bob", status="online")["devices"], 1, "a takeover is still one device")
        again.close()
        self.latest(w, "bob", status="offline")
        # Unclean: the socket just goes away, no DISCONNECT.
        s, rc = raw_connect(self.broker.port, "bob-raw", "bob", self.keys.token("bob"))
        self.assertEqual(rc, 0)
        self.latest(w, "bob", status="online", devices=1)
        s.close()
        self.latest(w, "bob", status="offline", devices=0)

    def test_keepalive_timeout_goes_offline(self):
        self.start_broker()
        w = self.watcher()
        s, rc = raw_connect(self.broker.port, "silent-carol", "carol", self.keys.token("carol"), keepalive=1)
        self.addCleanup(s.close)
        self.assertEqual(rc, 0, "CONNACK accepted")
        self.latest(w, "carol", status="online", devices=1)
        # Silence: the broker drops the client after 1.5 keepalives, but Mosquitto 2.0
        # scans keepalives only when more than 5 whole seconds have passed since its last
        # scan (keepalive.c), so the drop may come up to about 8 s after the CONNACK.
        self.latest(w, "carol", timeout=15, status="offline", devices=0)

    def assert_offline_after_restart(self, broker, user, stop):
        w = self.watcher()
        self.connect(user)
        self.latest(w, user, status="online")
        stop()
        broker.start()
        w2 = self.connect("watcher2")
        w2.subscribe("presence/+")
        got = self.latest(w2, user, status="offline")
        self.assertEqual(got["devices"], 0)
        w2.sync()
        self.assertNotIn("online", [decode(m.payload)["status"] for m in w2.messages("presence/" + user)],
                         "a user left online by the earlier run is never shown online")

    def test_clean_restart_leaves_nobody_online(self):
        # Mosquitto saves the retained "online" at shutdown; no DISCONNECT fires then.
        broker = self.start_broker({"store": "local"}, persistence=True)
        self.assert_offline_after_restart(broker, "dave", broker.stop)

    def test_kill_9_restart_leaves_nobody_online(self):
        broker = self.start_broker({"store": "local"}, persistence=True,
                                   extra_conf="autosave_interval 1\nautosave_on_changes false")

        def kill_after_autosave():
            time.sleep(2.5)  # the retained "online" reaches mosquitto.db
            broker.kill()

        self.assert_offline_after_restart(broker, "erin", kill_after_autosave)


if __name__ == "__main__":
    unittest.main()
