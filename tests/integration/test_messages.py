"""Spec section 4: chat messages on <prefix>/<ch>/msg - sequencing, stamping, exactly once."""

import unittest

from chatharness import (ChatTestCase, MQTTv5, MQTTv311, chat_message, decode, decode_pairs, msg_topic, new_id,
                         now_ms)

ROOM = "room"
MEMBERS = ("alice", "bob", "carol")


class MessageDelivery(ChatTestCase):

    def setUp(self):
        self.start_broker()
        self.set_channel(ROOM, "group", MEMBERS)
        self.alice = self.connect("alice")
        self.bob = self.connect("bob")
        self.carol = self.connect("carol", protocol=MQTTv5)

    def subscribe(self, clients, ch=ROOM):
        for c in clients:
            self.assertEqual(c.subscribe(msg_topic(ch), 1), [1])

    def test_members_receive_every_message_once_in_seq_order(self):
        self.subscribe([self.bob, self.carol])
        before = now_ms()
        ids = [self.send(self.alice, ROOM, body="m%d" % i) for i in (1, 2, 3)]
        for receiver in (self.bob, self.carol):
            got = receiver.chat(msg_topic(ROOM), 3)
            self.assertEqual([d["id"] for d in got], ids)
            self.assertEqual([d["seq"] for d in got], [1, 2, 3])
            self.assertEqual([d["body"] for d in got], ["m1", "m2", "m3"])
            for d in got:
                self.assertEqual(d["from"], "alice")
                self.assertEqual(d["ch"], ROOM)
                self.assertIsInstance(d["sts"], int)
                self.assertGreaterEqual(d["sts"], before - 2000)
                self.assertLessEqual(d["sts"], now_ms() + 2000)
        # Nothing more than the three, and the next one continues the sequence.
        for d in self.barrier(self.alice, [self.bob, self.carol], ROOM):
            self.assertEqual(d["seq"], 4)
        self.assertEqual(len(self.bob.messages(msg_topic(ROOM))), 4)
        self.assertEqual(len(self.carol.messages(msg_topic(ROOM))), 4)

    def test_concurrent_publishers_give_one_gapless_order_to_everybody(self):
        self.subscribe([self.alice, self.bob, self.carol])
        infos = [(c, c.publish_nowait(msg_topic(ROOM), chat_message(body="%s-%d" % (c.user, i))))
                 for i in range(10) for c in (self.alice, self.bob)]
        for c, info in infos:
            c.wait_published([info])
        orders = []
        for receiver in (self.alice, self.bob, self.carol):
            got = receiver.chat(msg_topic(ROOM), 20)
            self.assertEqual(len(got), 20)
            self.assertEqual([d["seq"] for d in got], list(range(1, 21)))
            orders.append([d["body"] for d in got])
        self.assertEqual(orders[0], orders[1])
        self.assertEqual(orders[0], orders[2])
        # Each publisher's own messages keep their publish order.
        for user in ("alice", "bob"):
            mine = [b for b in orders[0] if b.startswith(user + "-")]
            self.assertEqual(mine, ["%s-%d" % (user, i) for i in range(10)])

    def test_unknown_keys_pass_through_unchanged(self):
        self.subscribe([self.bob])
        msg_id = new_id(32)
        extra = {"type": "text/markdown", "meta": {"reply_to": 7, "tags": ["a", "b"], "n": None},
                 "x-app": {"nested": [1, -2, 3.5, b"\x00\xff"]}, "x-flag": True}
        payload = chat_message(id=msg_id, ts=now_ms(), body=b"\x00binary body\xff", **extra)
        self.alice.publish(msg_topic(ROOM), payload)
        got = self.bob.chat(msg_topic(ROOM))[0]
        sent = decode(payload)
        for key, value in sent.items():
            self.assertEqual(got[key], value, "key %r changed" % key)
        self.assertEqual(set(got), set(sent) | {"seq", "from", "sts", "ch"})

    def test_client_supplied_seq_from_sts_ch_are_overwritten(self):
        self.subscribe([self.bob])
        payload = chat_message(seq=999, **{"from": "mallory"}, sts=1, ch="elsewhere")
        self.alice.publish(msg_topic(ROOM), payload)
        message = self.bob.wait_messages(msg_topic(ROOM))[0]
        pairs = decode_pairs(message.payload)
        keys = [k for k, _ in pairs]
        self.assertEqual(len(keys), len(set(keys)), "duplicate keys in the delivered map: %r" % keys)
        got = dict(pairs)
        self.assertEqual(got["seq"], 1)
        self.assertEqual(got["from"], "alice")
        self.assertEqual(got["ch"], ROOM)
        self.assertGreater(got["sts"], now_ms() - 10000)

    def test_retained_flag_is_ignored(self):
        self.subscribe([self.bob])
        r = self.carol.publish(msg_topic(ROOM), chat_message(body="sticky"), qos=1, retain=True)
        self.assertLess(r.reason, 0x80)
        self.assertEqual(self.bob.chat(msg_topic(ROOM))[0]["body"], "sticky")
        # A later subscriber gets no retained copy: its first message is the next live one.
        late = self.connect("alice")
        self.subscribe([late])
        self.barrier(self.carol, [late], ROOM)
        self.assertEqual([d["body"] for d in self.deliveries(late, ROOM)], ["barrier"])
        self.assertFalse(any(m.retain for m in late.messages()))

    def check_retry_delivered_once(self, qos, protocol):
        ch = "retry-q%d-v%d" % (qos, protocol)
        self.set_channel(ch, "group", MEMBERS)
        self.subscribe([self.bob, self.carol], ch)
        payload = chat_message(body="once")
        first = self.connect("alice", protocol=protocol)
        r = first.publish(msg_topic(ch), payload, qos=qos)
        if protocol == MQTTv5:
            self.assertLess(r.reason, 0x80)
        first.close()
        # The retry comes on a new connection with the same payload (same id).
        again = self.connect("alice", protocol=protocol)
        r = again.publish(msg_topic(ch), payload, qos=qos)
        if protocol == MQTTv5:
            self.assertLess(r.reason, 0x80, "a duplicate must be acknowledged as success")
        # Exactly once, and the duplicate took no sequence number.
        for d in self.barrier(again, [self.bob, self.carol], ch):
            self.assertEqual(d["seq"], 2)
        for receiver in (self.bob, self.carol):
            self.assertEqual([(d["body"], d["seq"]) for d in self.deliveries(receiver, ch)],
                             [("once", 1), ("barrier", 2)])

    def test_qos1_retry_with_same_id_is_acked_and_delivered_once(self):
        for protocol in (MQTTv311, MQTTv5):
            with self.subTest(protocol=protocol):
                self.check_retry_delivered_once(1, protocol)

    def test_qos2_retry_with_same_id_is_acked_and_delivered_once(self):
        for protocol in (MQTTv311, MQTTv5):
            with self.subTest(protocol=protocol):
                self.check_retry_delivered_once(2, protocol)

    def test_reused_id_with_other_content_is_still_a_duplicate(self):
        self.subscribe([self.bob])
        msg_id = new_id()
        self.alice.publish(msg_topic(ROOM), chat_message(id=msg_id, body="first"))
        r = self.carol.publish(msg_topic(ROOM), chat_message(id=msg_id, body="second"))
        self.assertLess(r.reason, 0x80)
        self.barrier(self.alice, [self.bob], ROOM)
        self.assertEqual([(d["body"], d["seq"]) for d in self.deliveries(self.bob, ROOM)],
                         [("first", 1), ("barrier", 2)])

    def test_same_id_in_another_channel_is_a_new_message(self):
        self.set_channel("annex", "group", ("alice", "bob"))
        self.subscribe([self.bob], ROOM)
        self.subscribe([self.bob], "annex")
        msg_id = new_id()
        self.alice.publish(msg_topic(ROOM), chat_message(id=msg_id, body="here"))
        self.alice.publish(msg_topic("annex"), chat_message(id=msg_id, body="there"))
        [in_room] = self.assert_delivered_once([self.bob], ROOM, msg_id)
        [in_annex] = self.assert_delivered_once([self.bob], "annex", msg_id)
        self.assertEqual((in_room["body"], in_room["seq"], in_room["ch"]), ("here", 1, ROOM))
        self.assertEqual((in_annex["body"], in_annex["seq"], in_annex["ch"]), ("there", 1, "annex"))

    def test_publisher_receives_its_own_message_with_its_seq(self):
        self.subscribe([self.alice, self.bob])
        ids = [self.send(self.alice, ROOM, body="own%d" % i) for i in (1, 2)]
        own = self.alice.chat(msg_topic(ROOM), 2)
        self.assertEqual([(d["id"], d["seq"], d["from"]) for d in own], [(ids[0], 1, "alice"), (ids[1], 2, "alice")])
        self.assertEqual([d["seq"] for d in self.bob.chat(msg_topic(ROOM), 2)], [1, 2])

    def test_qos0_message_is_sequenced_like_the_others(self):
        # docs/protocol.md: QoS 0 chat messages are accepted and sequenced (no ack to give).
        self.subscribe([self.bob])
        msg_id = new_id()
        self.alice.publish(msg_topic(ROOM), chat_message(id=msg_id, body="fire and forget"), qos=0)
        self.alice.publish(msg_topic(ROOM), chat_message(id=msg_id, body="fire and forget"), qos=0)
        [d] = self.assert_delivered_once([self.bob], ROOM, msg_id)
        self.assertEqual((d["seq"], d["from"]), (1, "alice"))
        for d in self.barrier(self.alice, [self.bob], ROOM):
            self.assertEqual(d["seq"], 2)

    def test_each_channel_has_its_own_sequence(self):
        self.set_channel("annex", "group", ("alice", "bob"))
        self.subscribe([self.bob], "+")
        for ch in (ROOM, "annex", ROOM, "annex", ROOM):
            self.send(self.alice, ch)
        got = self.bob.chat("chat/+/msg", 5)
        self.assertEqual([d["seq"] for d in got if d["ch"] == ROOM], [1, 2, 3])
        self.assertEqual([d["seq"] for d in got if d["ch"] == "annex"], [1, 2])


class TopicPrefix(ChatTestCase):
    """plugin_opt_topic_prefix moves the chat topics; the default prefix is then ordinary."""

    def test_configured_prefix(self):
        self.start_broker({"topic_prefix": "talk"})
        self.set_channel(ROOM, "group", ("alice", "bob"))
        alice, bob, mallory = self.connect("alice"), self.connect("bob"), self.connect("mallory")
        self.assertEqual(bob.subscribe("talk/room/msg"), [1])
        self.assertEqual(mallory.subscribe("talk/room/msg"), [0x80])
        alice.publish("talk/room/msg", chat_message(body="prefixed"))
        got = bob.chat("talk/room/msg")[0]
        self.assertEqual((got["body"], got["seq"], got["from"], got["ch"]), ("prefixed", 1, "alice", ROOM))
        mallory.publish("talk/room/msg", chat_message())
        err = decode(mallory.wait_messages("talk/room/error")[0].payload)
        self.assertEqual(err["code"], "not_member")
        # chat/... is now an ordinary topic: passed through untouched.
        self.assertEqual(mallory.subscribe("chat/room/msg"), [1])
        alice.publish("chat/room/msg", b"plain bytes")
        self.assertEqual(mallory.wait_messages("chat/room/msg")[0].payload, b"plain bytes")


if __name__ == "__main__":
    unittest.main()
