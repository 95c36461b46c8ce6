"""Spec section 4: refused chat messages (malformed, too_large, stale, rate_limited).

Every refusal: the publisher gets {code, reason, id} on chat/<ch>/error (MQTT 5: PUBACK 0x87),
nothing is delivered or sequenced, and the channel keeps working for everybody.
"""

import time
import unittest

import msgpack

from chatharness import ChatTestCase, MQTTv5, chat_message, error_topic, msg_topic, new_id, now_ms, raw_map

ROOM = "room"
MAX_BODY = 1024
PAYLOAD_CAP = MAX_BODY + 16 * 1024  # the default whole-payload cap: max_body_bytes + 16 KiB


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


class Optional(bytes):
    """An id the error may omit, but must not get wrong."""


class Refusals(ChatTestCase):

    def setUp(self):
        self.start_broker({"max_body_bytes": MAX_BODY})
        self.set_channel(ROOM, "group", ("alice", "bob", "carol"))
        self.alice = self.connect("alice", protocol=MQTTv5)   # sends the bad input
        self.bob = self.connect("bob")                        # receives
        self.carol = self.connect("carol")                    # sends the good messages
        self.assertEqual(self.bob.subscribe(msg_topic(ROOM)), [1])
        self.good = []   # bodies of the valid messages sent so far

    def check_refused(self, payload, code, msg_id=None, qos=1, id_required=True):
        """alice's payload is refused with `code`; then carol's fresh message still gets through
        with the next seq, and bob has received only the valid messages."""
        errors_before = len(self.alice.messages(error_topic(ROOM)))
        r = self.alice.publish(msg_topic(ROOM), payload, qos=qos)
        self.assertEqual(r.reason, 0x87, "a refused message is acknowledged as refused on MQTT 5")
        self.assert_error(self.alice, ROOM, code, msg_id, n=errors_before + 1, id_required=id_required)
        self.alice.assert_connected()
        self.broker.assert_alive()
        self.check_channel_works()

    def check_channel_works(self):
        body = "good-%d" % (len(self.good) + 1)
        msg_id = self.send(self.carol, ROOM, body=body)
        self.good.append(body)
        [d] = self.assert_delivered_once([self.bob], ROOM, msg_id)
        self.assertEqual(d["seq"], len(self.good), "a refused message took a seq")
        self.assertEqual([d["body"] for d in self.deliveries(self.bob, ROOM)], self.good)

    def test_malformed_messages(self):
        i = new_id()
        ts = now_ms()
        valid = chat_message(id=i, ts=ts)
        cases = [
            # (name, payload, id expected in the error: None for none)
            ("empty payload", b"", None),
            ("not msgpack", b"\xc1\xc1\xc1", None),
            ("truncated map", valid[:-3], None),
            ("text", b"hello, world", None),
            ("array", pack([i, ts, "hi"]), None),
            ("string", pack("hi"), None),
            ("integer", pack(7), None),
            ("nil", pack(None), None),
            ("empty map", pack({}), None),
            ("id missing", pack({"ts": ts, "body": "hi"}), None),
            ("id too short", pack({"id": b"1234567", "ts": ts, "body": "hi"}), b"1234567"),
            ("id empty", pack({"id": b"", "ts": ts, "body": "hi"}), Optional(b"")),
            ("id too long", pack({"id": b"x" * 33, "ts": ts, "body": "hi"}), b"x" * 33),
            ("id as str", pack({"id": "0123456789abcdef", "ts": ts, "body": "hi"}), None),
            ("id as int", pack({"id": 12345678, "ts": ts, "body": "hi"}), None),
            ("ts missing", pack({"id": i, "body": "hi"}), i),
            ("ts negative", pack({"id": i, "ts": -ts, "body": "hi"}), i),
            ("ts as str", pack({"id": i, "ts": str(ts), "body": "hi"}), i),
            ("ts as float", pack({"id": i, "ts": float(ts), "body": "hi"}), i),
            ("ts nil", pack({"id": i, "ts": None, "body": "hi"}), i),
            ("body missing", pack({"id": i, "ts": ts}), i),
            ("body int", pack({"id": i, "ts": ts, "body": 5}), i),
            ("body nil", pack({"id": i, "ts": ts, "body": None}), i),
            ("body array", pack({"id": i, "ts": ts, "body": ["hi"]}), i),
            ("body map", pack({"id": i, "ts": ts, "body": {"text": "hi"}}), i),
            ("type not str", pack({"id": i, "ts": ts, "body": "hi", "type": 1}), i),
            ("meta not map", pack({"id": i, "ts": ts, "body": "hi", "meta": "x"}), i),
            ("duplicate body", raw_map([("id", i), ("ts", ts), ("body", "a"), ("body", "b")]), i),
            ("duplicate ts", raw_map([("id", i), ("ts", ts), ("ts", ts), ("body", "a")]), i),
            ("trailing garbage", valid + b"\x00", None),
            ("two maps", valid + valid, None),
            ("nesting too deep", pack({"id": i, "ts": ts, "body": "hi", "x": _nested(100)}), Optional(i)),
        ]
        for name, payload, expected_id in cases:
            with self.subTest(name):
                self.check_refused(payload, "malformed", expected_id,
                                   id_required=not isinstance(expected_id, Optional))
        with self.subTest("QoS 2"):
            self.check_refused(pack({"id": i, "ts": ts}), "malformed", i, qos=2)

    def test_too_large(self):
        cases = [
            ("str body over max_body_bytes", "x" * (MAX_BODY + 1)),
            ("bin body over max_body_bytes", b"x" * (MAX_BODY + 1)),
            ("multibyte str body over max_body_bytes", "\u00e9" * (MAX_BODY // 2 + 1)),  # 2 bytes each
        ]
        for name, body in cases:
            with self.subTest(name):
                i = new_id()
                self.check_refused(chat_message(id=i, body=body), "too_large", i)
        with self.subTest("body of exactly max_body_bytes is accepted"):
            i = new_id()
            self.alice.publish(msg_topic(ROOM), chat_message(id=i, body="y" * MAX_BODY))
            self.good.append("y" * MAX_BODY)
            self.assert_delivered_once([self.bob], ROOM, i)
        with self.subTest("whole payload over the cap"):
            i = new_id()
            payload = chat_message(id=i, body="small", meta={"pad": "z" * PAYLOAD_CAP})
            self.assertGreater(len(payload), PAYLOAD_CAP)
            # The plugin may refuse before reading the id: present or not, it must be ours.
            self.check_refused(payload, "too_large", i, id_required=False)

    def test_stale(self):
        for name, offset_ms in (("10 min in the past", -600000), ("10 min in the future", 600000),
                                ("just past the window", -125000), ("epoch zero", None)):
            with self.subTest(name):
                i = new_id()
                ts = 0 if offset_ms is None else now_ms() + offset_ms
                self.check_refused(chat_message(id=i, ts=ts), "stale", i)
        for name, offset_ms in (("1 min in the past", -60000), ("1 min in the future", 60000)):
            with self.subTest("accepted: " + name):
                i = new_id()
                self.alice.publish(msg_topic(ROOM), chat_message(id=i, ts=now_ms() + offset_ms, body=name))
                self.good.append(name)
                self.assert_delivered_once([self.bob], ROOM, i)

    def test_refused_message_can_be_sent_again_correctly(self):
        # A refused id is not remembered: the corrected message with the same id goes through.
        i = new_id()
        self.check_refused(chat_message(id=i, ts=now_ms() - 600000), "stale", i)
        self.alice.publish(msg_topic(ROOM), chat_message(id=i, body="fixed"))
        [d] = self.assert_delivered_once([self.bob], ROOM, i)
        self.assertEqual((d["body"], d["seq"]), ("fixed", len(self.good) + 1))


def _nested(depth):
    v = []
    for _ in range(depth):
        v = [v]
    return v


class RateLimit(ChatTestCase):

    def test_burst_over_the_rate_limit(self):
        self.start_broker({"rate_limit_per_s": 5})   # burst twice that: 10
        self.set_channel(ROOM, "group", ("alice", "bob", "carol"))
        alice, bob, carol = self.connect("alice", protocol=MQTTv5), self.connect("bob"), self.connect("carol")
        self.assertEqual(bob.subscribe(msg_topic(ROOM)), [1])

        ids = [new_id() for _ in range(30)]
        start = time.monotonic()
        infos = [alice.publish_nowait(msg_topic(ROOM), chat_message(id=i, body="burst")) for i in ids]
        acks = alice.wait_published(infos)
        elapsed = time.monotonic() - start

        refused = [i for i, ack in zip(ids, acks) if ack.reason >= 0x80]
        errors = alice.wait_messages(error_topic(ROOM), len(refused))
        self.assertTrue(refused, "no message of the burst was refused")
        # Another user is not limited by alice's burst; its message also orders the deliveries.
        self.barrier(carol, [bob], ROOM)
        delivered = [d["id"] for d in self.deliveries(bob, ROOM) if d["body"] == "burst"]
        self.assertGreaterEqual(len(delivered), 10, "the burst allowance is twice the rate")
        self.assertLessEqual(len(delivered), 10 + 5 * elapsed + 1)
        self.assertEqual(sorted(delivered + refused), sorted(ids), "every message is either delivered or refused")
        self.assertEqual(len(set(delivered)), len(delivered))
        error_ids = []
        for m in errors:
            err = self.decode_error(m)
            self.assertEqual(err["code"], "rate_limited")
            self.assertTrue(err["reason"])
            error_ids.append(err["id"])
        self.assertEqual(sorted(error_ids), sorted(refused))
        self.assertEqual([d["seq"] for d in self.deliveries(bob, ROOM)], list(range(1, len(delivered) + 2)))

        # The allowance comes back with time.
        time.sleep(0.5)
        self.assert_delivered_once([bob], ROOM, self.send(alice, ROOM))
        self.broker.assert_alive()

    @staticmethod
    def decode_error(m):
        return msgpack.unpackb(m.payload, raw=False)


if __name__ == "__main__":
    unittest.main()
