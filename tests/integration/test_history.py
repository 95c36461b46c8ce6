"""History sync (spec section 5): what a member missed, in order, in pages,
with a signal for every gap (trimmed, epoch)."""

import unittest

import msgpack

from chatharness import ChatTestCase, decode, msg_topic


def sync_topic(ch):
    return "chat/%s/sync" % ch


class HistoryTest(ChatTestCase):
    def setUp(self):
        super().setUp()
        self.start_broker({"store": "local", "sync_limit_max": 50})

    def request(self, client, ch, **fields):
        """Sends a sync request; returns (messages sent for it, summary reply)."""
        client.clear()
        client.publish(sync_topic(ch), msgpack.packb(fields), qos=1)
        reply = decode(client.wait_messages(sync_topic(ch), 1, 10)[0].payload)
        return self.deliveries(client, ch), reply

    def test_offline_member_syncs_exactly_what_it_missed_across_pages(self):
        self.set_channel("room", members=["alice", "bob"])
        alice = self.connect("alice")
        bob = self.connect("bob")
        bob.subscribe(msg_topic("room"))
        for i in range(3):
            self.send(alice, "room", body="seen %d" % i)
        seen = bob.chat(msg_topic("room"), 3)
        last_seen = seen[-1]["seq"]
        bob.close()
        missed = [self.send(alice, "room", body="missed %d" % i) for i in range(10)]

        bob = self.connect("bob")
        got, after = [], last_seen
        for _ in range(10):
            page, reply = self.request(bob, "room", after=after, limit=4)
            self.assertEqual(reply["after"], after)
            self.assertEqual(reply["head"], 13)
            self.assertLessEqual(len(page), 4)
            if page:
                self.assertEqual(reply["last"], page[-1]["seq"])
            got += page
            after = reply["last"]
            if not reply["more"]:
                break
        self.assertEqual([m["id"] for m in got], missed, "exactly the missed messages, in order")
        self.assertEqual([m["seq"] for m in got], list(range(4, 14)))
        self.assertTrue(all(m["from"] == "alice" and m["ch"] == "room" for m in got))
        self.assertFalse(reply["more"])
        self.assertNotIn("trimmed", reply)

    def test_sync_goes_to_the_requester_only_and_request_is_not_relayed(self):
        self.set_channel("room", members=["alice", "bob"])
        alice = self.connect("alice")
        bob = self.connect("bob")
        bob.subscribe("chat/room/#")
        self.send(alice, "room", body="one")
        bob.wait_messages(msg_topic("room"), 1)
        bob.clear()
        page, reply = self.request(alice, "room", after=0)
        self.assertEqual(len(page), 1)
        self.barrier(alice, [bob], "room")
        self.assertEqual([m.topic for m in bob.messages("#") if m.topic != msg_topic("room")], [],
                         "neither the request, the page nor the reply reached another member")

    def test_limit_is_capped_by_sync_limit_max(self):
        self.set_channel("room", members=["alice"])
        alice = self.connect("alice")
        for i in range(60):
            self.send(alice, "room", body=str(i))
        page, reply = self.request(alice, "room", after=0, limit=1000)
        self.assertEqual(len(page), 50)
        self.assertTrue(reply["more"])
        page, reply = self.request(alice, "room", after=0)  # default page size 100, capped too
        self.assertEqual(len(page), 50)

    def test_retention_trims_and_the_reply_says_trimmed(self):
        self.set_channel("room", members=["alice"], history={"max": 5})
        alice = self.connect("alice")
        for i in range(12):
            self.send(alice, "room", body=str(i))
        page, reply = self.request(alice, "room", after=2, limit=100)
        self.assertEqual([m["seq"] for m in page], [8, 9, 10, 11, 12])
        self.assertEqual(reply["trimmed"], 8, "the lowest seq still stored")
        page, reply = self.request(alice, "room", after=9)
        self.assertNotIn("trimmed", reply, "nothing after 9 was dropped")
        self.assertEqual([m["seq"] for m in page], [10, 11, 12])

    def test_history_max_zero_keeps_nothing_but_says_so(self):
        self.set_channel("room", members=["alice"], history={"max": 0})
        alice = self.connect("alice")
        for i in range(3):
            self.send(alice, "room", body=str(i))
        page, reply = self.request(alice, "room", after=0)
        self.assertEqual(page, [])
        self.assertEqual(reply["trimmed"], 4)
        self.assertEqual(reply["last"], 3, "the client can continue from head")
        self.assertFalse(reply["more"])

    def test_delete_and_recreate_changes_epoch_and_restarts_seq(self):
        self.set_channel("room", members=["alice"])
        alice = self.connect("alice")
        for i in range(3):
            self.send(alice, "room", body=str(i))
        _, before = self.request(alice, "room", after=0)
        self.assertEqual(before["head"], 3)
        self.delete_channel("room")
        self.set_channel("room", members=["alice"])
        page, after = self.request(alice, "room", after=3)
        self.assertNotEqual(after["epoch"], before["epoch"])
        self.assertEqual(after["head"], 0, "head < after: the client must drop what it holds")
        self.assertEqual(page, [])
        self.send(alice, "room", body="new life")
        page, _ = self.request(alice, "room", after=0)
        self.assertEqual([m["seq"] for m in page], [1])

    def test_sync_from_non_member_is_refused(self):
        self.set_channel("room", members=["alice"])
        alice = self.connect("alice")
        self.send(alice, "room", body="secret")
        mallory = self.connect("mallory")
        mallory.publish(sync_topic("room"), msgpack.packb({"after": 0}), qos=1)
        self.assert_error(mallory, "room", "not_member")
        mallory.expect_none(msg_topic("room"), 0.3)
        mallory.expect_none(sync_topic("room"), 0.1)

    def test_malformed_sync_request_is_refused(self):
        self.set_channel("room", members=["alice"])
        alice = self.connect("alice")
        for n, bad in enumerate([b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"after": "x"}),
                                 msgpack.packb({"after": -1}), msgpack.packb({"limit": 1.5})], start=1):
            with self.subTest(bad=bad):
                alice.publish(sync_topic("room"), bad, qos=1)
                self.assert_error(alice, "room", "malformed", n=n)
        self.broker.assert_alive()


if __name__ == "__main__":
    unittest.main()
