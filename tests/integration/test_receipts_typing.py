"""Receipts and typing (spec section 5)."""

import time
import unittest

import msgpack

from chatharness import ChatTestCase, decode


def receipt_topic(ch):
    return "chat/%s/receipt" % ch


def typing_topic(ch):
    return "chat/%s/typing" % ch


class ReceiptTest(ChatTestCase):
    def setUp(self):
        super().setUp()
        self.start_broker({"store": "local"})

    def receipt(self, client, ch, kind, upto):
        client.publish(receipt_topic(ch), msgpack.packb({"kind": kind, "upto": upto}), qos=1)

    def watermarks(self, client, ch):
        client.clear()
        client.publish("chat/%s/sync" % ch, msgpack.packb({"after": 0, "limit": 0}), qos=1)
        reply = decode(client.wait_messages("chat/%s/sync" % ch, 1)[0].payload)
        return reply["read"], reply["delivered"]

    def test_receipts_advance_never_go_back_never_pass_head(self):
        self.set_channel("room", members=["alice", "bob"])
        alice = self.connect("alice")
        bob = self.connect("bob")
        bob.subscribe(receipt_topic("room"))
        for i in range(5):
            self.send(alice, "room", body=str(i))
        self.receipt(alice, "room", "read", 3)
        got = bob.chat(receipt_topic("room"), 1)[0]
        self.assertEqual((got["kind"], got["upto"], got["from"], got["ch"]), ("read", 3, "alice", "room"))
        self.assertIsInstance(got["sts"], int)

        self.receipt(alice, "room", "read", 2)   # goes back: not broadcast
        self.receipt(alice, "room", "read", 3)   # same: not broadcast
        self.receipt(alice, "room", "read", 99)  # past head: capped at 5
        got = bob.chat(receipt_topic("room"), 2)
        self.assertEqual([r["upto"] for r in got], [3, 5])
        alice.sync()  # every receipt above has been handled
        bob.sync()    # and whatever it produced has reached bob
        self.assertEqual(len(bob.messages(receipt_topic("room"))), 2, "non-advancing receipts are not broadcast")
        self.assertEqual(self.watermarks(alice, "room"), (5, 5), "read implies delivered")

        self.receipt(alice, "room", "delivered", 4)  # below the implied delivered: no change
        self.receipt(bob, "room", "delivered", 2)
        got = bob.chat(receipt_topic("room"), 3)
        self.assertEqual((got[2]["kind"], got[2]["upto"], got[2]["from"]), ("delivered", 2, "bob"))
        self.assertEqual(len(bob.messages(receipt_topic("room"))), 3)
        self.assertEqual(self.watermarks(bob, "room"), (0, 2))

    def test_open_channel_receipts_are_stored_not_broadcast(self):
        self.set_channel("lobby", type="open")
        alice = self.connect("alice")
        bob = self.connect("bob")
        bob.subscribe(receipt_topic("lobby"))
        self.send(alice, "lobby", body="hi")
        self.receipt(alice, "lobby", "read", 1)
        self.assertEqual(self.watermarks(alice, "lobby"), (1, 1))
        bob.expect_none(receipt_topic("lobby"), 0.3)

    def test_receipts_switched_off(self):
        self.set_channel("quiet", members=["alice", "bob"], receipts=False)
        alice = self.connect("alice")
        bob = self.connect("bob")
        bob.subscribe(receipt_topic("quiet"))
        self.send(alice, "quiet", body="hi")
        self.receipt(alice, "quiet", "read", 1)
        bob.expect_none(receipt_topic("quiet"), 0.3)
        self.assertEqual(self.watermarks(alice, "quiet"), (0, 0))

    def test_malformed_and_non_member_receipts(self):
        self.set_channel("room", members=["alice"])
        alice = self.connect("alice")
        for n, bad in enumerate([msgpack.packb({"kind": "seen", "upto": 1}), msgpack.packb({"kind": "read"}),
                                 msgpack.packb({"kind": "read", "upto": -2}), b"junk"], start=1):
            alice.publish(receipt_topic("room"), bad, qos=1)
            self.assert_error(alice, "room", "malformed", n=n)
        mallory = self.connect("mallory")
        self.receipt(mallory, "room", "read", 1)
        self.assert_error(mallory, "room", "not_member")


class TypingTest(ChatTestCase):
    def test_typing_floods_are_thinned_to_the_interval(self):
        self.start_broker({"typing_interval_ms": 1000})
        self.set_channel("room", members=["alice", "bob"])
        alice = self.connect("alice")
        bob = self.connect("bob")
        bob.subscribe(typing_topic("room"))
        start = time.monotonic()
        for _ in range(20):
            alice.publish(typing_topic("room"), msgpack.packb({"state": "start"}), qos=1)
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 0.9, "the flood must fit in one interval for this test")
        got = bob.chat(typing_topic("room"), 1)
        alice.sync()
        bob.sync()
        self.assertEqual(len(bob.messages(typing_topic("room"))), 1, "one per interval")
        self.assertEqual((got[0]["state"], got[0]["from"], got[0]["ch"]), ("start", "alice", "room"))
        time.sleep(1.05 - (time.monotonic() - start) if time.monotonic() - start < 1.05 else 0)
        alice.publish(typing_topic("room"), msgpack.packb({"state": "stop"}), qos=1)
        got = bob.chat(typing_topic("room"), 2)
        self.assertEqual(got[1]["state"], "stop")
        # Never stored, never retained: a new subscriber gets nothing.
        carol = self.connect("bob")
        carol.subscribe(typing_topic("room"))
        carol.expect_none(typing_topic("room"), 0.3)

    def test_typing_switched_off_and_malformed(self):
        self.start_broker()
        self.set_channel("room", members=["alice", "bob"], typing=False)
        alice = self.connect("alice")
        bob = self.connect("bob")
        bob.subscribe(typing_topic("room"))
        alice.publish(typing_topic("room"), msgpack.packb({"state": "start"}), qos=1)
        bob.expect_none(typing_topic("room"), 0.3)
        alice.publish(typing_topic("room"), msgpack.packb({"state": "dancing"}), qos=1)
        self.assert_error(alice, "room", "malformed")


if __name__ == "__main__":
    unittest.main()
