"""Cluster (issue 7): three mosquitto nodes on one real redis-server, all on loopback.
Every promise of the spec holds cluster-wide: one gapless seq order seen by every
subscriber on every node, dedup and single-use tokens across nodes, channel documents,
receipts, typing and presence everywhere, and the faults: Redis or a node killed,
the feed cut, the outbox full."""

import threading
import time
import unittest

from chatharness import (ChatTestCase, admin_topic, chat_message, decode, msg_topic, new_id, now_ms,
                         poll)


class ClusterTestCase(ChatTestCase):
    kid_prefix = "cl"

    def channel_everywhere(self, ch, members, brokers, type="group"):
        """Creates the channel on the first node and waits until every node applies it."""
        self.set_channel(ch, type=type, members=members, broker=brokers[0])
        for b in brokers[1:]:
            w = self.connect("it-admin", admin=True, broker=b)
            w.subscribe(admin_topic(ch))
            poll(lambda: any(m.payload for m in w.messages(admin_topic(ch))), 10,
                 what="channel %s on %s" % (ch, b.port))
            w.close()

    def subscriber(self, user, ch, broker):
        c = self.connect(user, broker=broker)
        self.assertEqual(c.subscribe(msg_topic(ch)), [1])
        return c

    def seqs(self, client, ch):
        return [d["seq"] for d in self.deliveries(client, ch)]

    def wait_count(self, client, ch, n, timeout=20):
        poll(lambda: len(self.deliveries(client, ch)) >= n, timeout,
             what="%d deliveries on %s (have %d)" % (n, client.client_id, len(self.deliveries(client, ch))))


class ClusterTest(ClusterTestCase):
    def test_concurrent_publishers_one_gapless_order_everywhere(self):
        nodes = self.start_cluster(3)
        users = ["alice", "bob", "carol"]
        self.channel_everywhere("room", users + ["s1", "s2", "s3"], nodes)
        subs = [self.subscriber("s%d" % (i + 1), "room", n) for i, n in enumerate(nodes)]
        pubs = [self.connect(u, broker=n) for u, n in zip(users, nodes)]
        per = 100
        sent = {}

        def run(c, user):
            ids = []
            infos = []
            for i in range(per):
                payload = chat_message(body="%s %d" % (user, i))
                ids.append(decode(payload)["id"])
                infos.append(c.publish_nowait(msg_topic("room"), payload))
            c.wait_published(infos, timeout=30)
            sent[user] = ids

        threads = [threading.Thread(target=run, args=(c, u)) for c, u in zip(pubs, users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = per * len(users)
        for s in subs:
            self.wait_count(s, "room", total)
        orders = []
        for s in subs:
            got = self.deliveries(s, "room")
            self.assertEqual([d["seq"] for d in got], list(range(1, total + 1)), "gapless, in order, once")
            orders.append([d["id"] for d in got])
        self.assertEqual(orders[0], orders[1], "node 1 and node 2 saw the same order")
        self.assertEqual(orders[0], orders[2], "node 1 and node 3 saw the same order")
        # Each publisher's own messages keep their order inside the channel's order.
        for user in users:
            mine = [i for i in orders[0] if i in set(sent[user])]
            self.assertEqual(mine, sent[user])
        time.sleep(0.3)
        for s in subs:
            self.assertEqual(len(self.deliveries(s, "room")), total, "no duplicate after the fact")

    def test_retry_on_another_node_is_acked_not_redelivered_and_tokens_are_cluster_wide(self):
        nodes = self.start_cluster(3)
        self.channel_everywhere("dm", ["alice", "bob", "carol"], nodes)
        carol = self.subscriber("carol", "dm", nodes[2])
        a1 = self.connect("alice", broker=nodes[0])
        payload = chat_message(body="once")
        msg_id = decode(payload)["id"]
        a1.publish(msg_topic("dm"), payload)
        self.assert_delivered_once([carol], "dm", msg_id, timeout=10)
        # The same message again, through node 2: acknowledged, not delivered again.
        a2 = self.connect("alice", broker=nodes[1])
        a2.publish(msg_topic("dm"), payload)  # waits for the PUBACK
        self.barrier(a2, [carol], "dm")
        self.assertEqual(len([d for d in self.deliveries(carol, "dm") if d["id"] == msg_id]), 1)
        # A token used on node 1 is refused on node 2.
        token = self.keys.token("bob")
        first = self.client("bob", token, broker=nodes[0])
        self.assertEqual(first.connect_rc, 0)
        time.sleep(0.3)  # the claim reaches the other nodes through the feed
        again = self.client("bob", token, broker=nodes[1])
        self.assertEqual(again.connect_rc, 5, "replay on another node refused")
        self.assertTrue(first.connected)

    def test_simultaneous_replay_on_two_nodes_leaves_one_connection(self):
        nodes = self.start_cluster(2)
        for attempt in range(3):
            token = self.keys.token("erin")
            got = [None, None]

            def go(i):
                got[i] = self.client("erin", token, broker=nodes[i])

            ts = [threading.Thread(target=go, args=(i,)) for i in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            # At most one survives: refused at CONNACK, or let in and kicked once Redis decides.
            poll(lambda: sum(1 for c in got if c.connected) <= 1, 5, what="one connection left")
            time.sleep(0.3)
            self.assertLessEqual(sum(1 for c in got if c.connected), 1)
            for c in got:
                c.close()

    def test_scripts_flushed_from_redis_are_loaded_again(self):
        nodes = self.start_cluster(2)
        self.channel_everywhere("lua", ["alice", "bob"], nodes)
        bob = self.subscriber("bob", "lua", nodes[1])
        alice = self.connect("alice", broker=nodes[0])
        self.barrier(alice, [bob], "lua")
        self.redis.cli("SCRIPT", "FLUSH")  # EVALSHA now answers NOSCRIPT
        ids = [self.send(alice, "lua", body="after flush %d" % i) for i in range(5)]
        self.assert_delivered_once([bob], "lua", ids[-1], timeout=10)
        self.assertEqual(self.seqs(bob, "lua"), list(range(1, 7)))
        nodes[0].wait_log("scripts were flushed; loading them again", timeout=5)

    def test_token_used_while_a_node_was_down_is_refused_there(self):
        nodes = self.start_cluster(2)
        nodes[1].stop()
        caught_up = nodes[1].log().count("caught up with the cluster")
        token = self.keys.token("frank")
        self.assertEqual(self.client("frank", token, broker=nodes[0]).connect_rc, 0)
        time.sleep(0.3)  # the claim is in Redis
        nodes[1].start()
        # The node loads the live token ids when its feed subscribes.
        poll(lambda: nodes[1].log().count("caught up with the cluster") > caught_up, 15,
             what="node 2 to catch up with the cluster")
        self.assertEqual(self.client("frank", token, broker=nodes[1]).connect_rc, 5)

    def test_channel_documents_receipts_typing_presence_everywhere(self):
        nodes = self.start_cluster(3)
        self.channel_everywhere("team", ["alice", "bob"], nodes)
        # The document is retained on every node.
        for n in nodes:
            docs = self.retained_channel_docs(broker=n)
            self.assertEqual(docs["team"]["members"], ["alice", "bob"])
        bob = self.connect("bob", broker=nodes[2])
        bob.subscribe("chat/team/#")
        alice = self.connect("alice", broker=nodes[0])
        self.send(alice, "team", body="hello")
        poll(lambda: self.deliveries(bob, "team"), 10, what="bob's delivery")
        # A receipt on node 1 reaches bob on node 3.
        import msgpack
        alice.publish("chat/team/receipt", msgpack.packb({"kind": "read", "upto": 1}))
        poll(lambda: bob.messages("chat/team/receipt"), 10, what="receipt on node 3")
        r = decode(bob.messages("chat/team/receipt")[-1].payload)
        self.assertEqual((r["kind"], r["upto"], r["from"]), ("read", 1, "alice"))
        alice.publish("chat/team/typing", msgpack.packb({"state": "start"}))
        poll(lambda: bob.messages("chat/team/typing"), 10, what="typing on node 3")
        # Sync on node 2 sees history and alice's watermark.
        alice2 = self.connect("alice", broker=nodes[1])
        alice2.publish("chat/team/sync", msgpack.packb({"after": 0}))
        reply = decode(alice2.wait_messages("chat/team/sync", 1, 10)[0].payload)
        self.assertEqual((reply["head"], reply["last"], reply["read"]), (1, 1, 1))
        # Presence counts devices across nodes (alice: node 1 and node 2).
        w = self.connect("watcher", broker=nodes[2])
        w.subscribe("presence/alice")

        def newest():
            ms = w.messages("presence/alice")
            return decode(ms[-1].payload) if ms else {}

        poll(lambda: newest().get("devices") == 2, 10, what="alice on 2 devices (%r)" % newest())
        alice.close()
        poll(lambda: newest().get("devices") == 1 and newest().get("status") == "online", 10,
             what="alice on 1 device")
        alice2.close()
        poll(lambda: newest().get("status") == "offline", 10, what="alice offline")
        # Deleting on node 2 deletes everywhere.
        self.delete_channel("team", broker=nodes[1])
        for n in nodes:
            poll(lambda: "team" not in self.retained_channel_docs(broker=n), 10, what="team deleted")


if __name__ == "__main__":
    unittest.main()


class ClusterFaultTest(ClusterTestCase):
    def burst(self, client, ch, n, prefix):
        """Publishes n messages without waiting; returns [(id, info)]."""
        out = []
        for i in range(n):
            payload = chat_message(body="%s %d" % (prefix, i))
            out.append((decode(payload)["id"], client.publish_nowait(msg_topic(ch), payload)))
            time.sleep(0.002)
        return out

    def acked(self, client, sent):
        return [msg_id for msg_id, info in sent if info.mid in client._published]

    def assert_exactly_once_gapless(self, sub, ch, must_have, timeout=30):
        must_have = set(must_have)
        try:
            poll(lambda: must_have <= {d["id"] for d in self.deliveries(sub, ch)}, timeout,
                 what="every acknowledged message on %s" % sub.client_id)
        except AssertionError as e:
            have = len(must_have & {d["id"] for d in self.deliveries(sub, ch)})
            tails = "\n".join(b.tail(30) for b in self.nodes)
            raise AssertionError("%s (%d of %d)\n%s" % (e, have, len(must_have), tails)) from None
        got = self.deliveries(sub, ch)
        seqs = [d["seq"] for d in got]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "gapless and in order")
        ids = [d["id"] for d in got]
        self.assertEqual(len(ids), len(set(ids)), "no message twice")
        return got

    def test_redis_killed_during_a_qos1_burst(self):
        nodes = self.start_cluster(2)
        self.channel_everywhere("burst", ["alice", "bob"], nodes)
        bob = self.subscriber("bob", "burst", nodes[1])
        alice = self.connect("alice", broker=nodes[0])
        sent = self.burst(alice, "burst", 150, "before")
        self.redis.kill()
        sent += self.burst(alice, "burst", 100, "during")  # acknowledged from the outbox
        time.sleep(0.5)
        self.redis.restart()
        sent += self.burst(alice, "burst", 50, "after")
        alice.wait_published([info for _, info in sent], timeout=30)
        acked = self.acked(alice, sent)
        self.assertEqual(len(acked), 300, "Redis down: still acknowledged from the outbox")
        self.assert_exactly_once_gapless(bob, "burst", acked)
        # History holds each exactly once too.
        import msgpack
        bob.publish("chat/burst/sync", msgpack.packb({"after": 0, "limit": 1000}))
        reply = decode(bob.wait_messages("chat/burst/sync", 1, 10)[0].payload)
        self.assertEqual(reply["head"], 300)
        for n in nodes:
            n.assert_alive()

    def test_node_killed_during_a_burst(self):
        nodes = self.start_cluster(2, options={"presence_timeout_s": 3, "local_fsync": "always"})
        self.channel_everywhere("burst", ["alice", "bob"], nodes)
        bob = self.subscriber("bob", "burst", nodes[1])
        watcher = self.connect("watcher", broker=nodes[1])
        watcher.subscribe("presence/alice")
        alice = self.connect("alice", broker=nodes[0])
        poll(lambda: any(decode(m.payload)["status"] == "online" for m in watcher.messages("presence/alice")), 10,
             what="alice online")
        sent = self.burst(alice, "burst", 200, "x")
        time.sleep(0.05)
        nodes[0].kill()
        killed_at = time.monotonic()
        acked = self.acked(alice, sent)
        self.assertGreater(len(acked), 0)
        # The dead node's devices are dropped within presence_timeout_s.
        poll(lambda: decode(watcher.messages("presence/alice")[-1].payload)["status"] == "offline", 10,
             what="alice offline after her node died")
        # presence_timeout_s is 3; a second of slack for scheduling on a loaded machine.
        self.assertLessEqual(time.monotonic() - killed_at, 4.0)
        # The other node kept serving meanwhile.
        bob2 = self.connect("bob", broker=nodes[1])
        still_here = self.send(bob2, "burst", body="still here")
        nodes[0].start()  # its outbox is committed at start
        self.assert_exactly_once_gapless(bob, "burst", acked + [still_here])

    def test_feed_cut_is_filled_from_history(self):
        nodes = self.start_cluster(2)
        self.channel_everywhere("feed", ["alice", "bob"], nodes)
        bob = self.subscriber("bob", "feed", nodes[1])
        alice = self.connect("alice", broker=nodes[0])
        sent = []
        for round_ in range(4):
            sent += self.burst(alice, "feed", 50, "r%d" % round_)
            self.redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
        sent += self.burst(alice, "feed", 20, "end")
        alice.wait_published([info for _, info in sent], timeout=30)
        got = self.assert_exactly_once_gapless(bob, "feed", [i for i, _ in sent])
        self.assertEqual(len(got), 220)
        nodes[1].wait_log("redis feed resumed", timeout=5)

    def test_outbox_full_disconnects_without_ack_and_retries_succeed(self):
        nodes = self.start_cluster(2, options={"outbox_max": 5})
        self.channel_everywhere("full", ["alice", "bob"], nodes)
        bob = self.subscriber("bob", "full", nodes[1])
        self.redis.kill()
        alice = self.connect("alice", broker=nodes[0])
        payloads = [chat_message(body="m%d" % i) for i in range(8)]
        for p in payloads[:5]:
            alice.publish(msg_topic("full"), p)  # Redis is down: acknowledged from the outbox
        sixth = alice.publish_nowait(msg_topic("full"), payloads[5])
        poll(lambda: not alice.connected, 10, what="the publisher to be disconnected once the outbox is full")
        self.assertNotIn(sixth.mid, alice._published, "the message that did not fit is not acknowledged")
        nodes[0].wait_log("outbox full", timeout=5)
        self.redis.restart()
        # The client resends what was not acknowledged, with the same ids.
        again = self.connect("alice", broker=nodes[0])
        for p in payloads[5:]:
            again.publish(msg_topic("full"), p, timeout=20)
        got = self.assert_exactly_once_gapless(bob, "full", [decode(p)["id"] for p in payloads])
        self.assertEqual(len(got), 8)
