"""The $CONTROL/chat/v1 API (issue 8, spec section 6): request/response in the shape of
Mosquitto's dynamic-security plugin, admins only, an error per command and never a crash;
on one node and across a three-node cluster."""

import json
import subprocess
import time
import unittest

import msgpack

from chatharness import ChatTestCase, admin_topic, decode, msg_topic, poll

CONTROL = "$CONTROL/chat/v1"
RESPONSE = "$CONTROL/chat/v1/response"


class ControlCase(ChatTestCase):
    kid_prefix = "ctl"

    def ask(self, client, *commands, raw=None, timeout=10):
        """Sends one request; returns its list of responses."""
        before = len(client.messages(RESPONSE))
        payload = raw if raw is not None else json.dumps({"commands": list(commands)})
        client.publish(CONTROL, payload, qos=1)
        got = client.wait_messages(RESPONSE, before + 1, timeout)
        return json.loads(got[before].payload)["responses"]

    def ok(self, client, command, **args):
        cmd = dict(args, command=command, correlationData="c-" + command)
        [r] = self.ask(client, cmd)
        self.assertEqual(r["command"], command)
        self.assertEqual(r["correlationData"], "c-" + command)
        self.assertIn("data", r, "error: %r" % r)
        return r["data"]

    def err(self, client, command, **args):
        [r] = self.ask(client, dict(args, command=command))
        self.assertIn("error", r, "expected an error, got %r" % r)
        self.assertNotIn("data", r)
        return r["error"]


class ControlOneNodeTest(ControlCase):
    def test_channels_history_unread_send(self):
        self.start_broker({"store": "local", "sys_interval_s": 1})
        admin = self.connect("root", admin=True)
        doc = {"type": "group", "members": ["alice", "bob"]}
        self.assertEqual(self.ok(admin, "setChannel", channel="room", doc=doc)["doc"]["members"], ["alice", "bob"])
        # The retained document is kept in step.
        self.assertEqual(self.retained_channel_docs()["room"]["members"], ["alice", "bob"])
        self.assertEqual([c["channel"] for c in self.ok(admin, "listChannels")["channels"]], ["room"])
        self.assertEqual(self.ok(admin, "getChannel", channel="room")["doc"]["type"], "group")
        bob = self.connect("bob")
        bob.subscribe(msg_topic("room"))
        sent = self.ok(admin, "sendMessage", channel="room", user="alice", body="from the server",
                       id="00112233445566778899aabbccddeeff")
        self.assertEqual((sent["seq"], sent["duplicate"]), (1, False))
        got = decode(bob.wait_messages(msg_topic("room"), 1)[0].payload)
        self.assertEqual((got["seq"], got["from"], got["body"]), (1, "alice", "from the server"))
        # The same id again: the original seq, not delivered twice.
        again = self.ok(admin, "sendMessage", channel="room", user="alice", body="from the server",
                        id="00112233445566778899aabbccddeeff")
        self.assertEqual((again["seq"], again["duplicate"]), (1, True))
        self.ok(admin, "sendMessage", channel="room", user="bob", body="second")
        hist = self.ok(admin, "getHistory", channel="room", after=0, limit=10)
        self.assertEqual([m["seq"] for m in hist["messages"]], [1, 2])
        self.assertEqual(hist["messages"][0]["id"], "00112233445566778899aabbccddeeff")
        self.assertEqual(hist["messages"][1]["body"], "second")
        bob.publish("chat/room/receipt", msgpack.packb({"kind": "read", "upto": 1}))
        unread = self.ok(admin, "getUnread", user="bob")
        self.assertEqual(unread["channels"]["room"], {"head": 2, "read": 1, "unread": 1})
        self.assertEqual(unread["total"], 1)
        self.assertEqual(len(bob.messages(msg_topic("room"))), 2, "nothing delivered twice")
        # Queued to one subscriber (bob), on this node.
        self.assertEqual(list(self.ok(admin, "traceMessage", channel="room", seq=1)["fanout"].values()), [1])
        # Not a member: refused, nothing stored.
        self.assertIn("not_member", self.err(admin, "sendMessage", channel="room", user="mallory", body="x"))
        self.assertEqual(self.ok(admin, "deleteChannel", channel="room")["channel"], "room")
        self.assertNotIn("room", self.retained_channel_docs())
        stats = self.ok(admin, "getStats")
        self.assertEqual(stats["messages_accepted"], 2)
        self.assertEqual(stats["messages_deduplicated"], 1)
        self.assertEqual(stats["store_latency_us"]["samples"], 3)
        self.assertGreaterEqual(stats["store_latency_us"]["p99"], stats["store_latency_us"]["p50"])
        # $SYS statistics, every sys_interval_s.
        watcher = self.connect("watcher")
        watcher.subscribe("$SYS/broker/chat/#")
        poll(lambda: any(m.topic == "$SYS/broker/chat/messages/accepted" and m.payload == b"2"
                         for m in watcher.messages("$SYS/broker/chat/#")), 5, what="$SYS accepted = 2")

    def test_presence_kick_revoke(self):
        self.start_broker()
        admin = self.connect("root", admin=True)
        a1 = self.connect("alice")
        a2 = self.connect("alice")
        p = self.ok(admin, "getPresence", user="alice")
        self.assertEqual((p["status"], p["devices"]), ("online", 2))
        self.assertEqual(self.ok(admin, "kickUser", user="alice")["kicked_here"], 2)
        poll(lambda: not a1.connected and not a2.connected, 5, what="alice's devices kicked")
        self.assertEqual(self.ok(admin, "getPresence", user="alice")["status"], "offline")
        token = self.keys.token("carol", jti="carol-token-1")
        self.assertEqual(self.ok(admin, "revokeToken", jti="carol-token-1")["was_unused"], True)
        self.assertEqual(self.client("carol", token).connect_rc, 5, "a revoked token is refused")

    def test_refusals(self):
        self.start_broker()
        admin = self.connect("root", admin=True)
        user = self.connect("alice")
        [r] = self.ask(user, {"command": "listChannels"})
        self.assertEqual(r["error"], "not an admin")
        self.assertIn("unknown command", self.err(admin, "noSuchCommand"))
        self.assertIn("'channel'", self.err(admin, "getChannel"))
        self.assertIn("'channel'", self.err(admin, "getChannel", channel=5))
        self.assertIn("no such channel", self.err(admin, "getChannel", channel="nope"))
        self.assertIn("'after'", self.err(admin, "getHistory", channel="x", after=-1))
        self.assertTrue(self.err(admin, "setChannel", channel="x", doc={"type": "direct", "members": ["a"]}))
        self.assertTrue(self.err(admin, "sendMessage", channel="x", user="a", body="b", id="zz"))
        # Malformed requests: one error, the broker keeps serving.
        for raw in ("not json", "[]", '{"commands": 5}', "{" * 100000, "x" * (2 << 20)):
            [r] = self.ask(admin, raw=raw)
            self.assertIn("error", r)
        # Several commands: one response each, in order, errors per command.
        rs = self.ask(admin, {"command": "listChannels", "correlationData": "1"}, {"command": "bad"},
                      {"command": "getStats", "correlationData": "3"})
        self.assertEqual([r.get("correlationData") for r in rs], ["1", None, "3"])
        self.assertEqual(["data" in r for r in rs], [True, False, True])
        self.broker.assert_alive()


class ChatctlTest(ControlCase):
    """chatctl ctl, run as an operator would."""

    def chatctl(self, *args, token=None):
        cmd = [self.keys.chatctl, "ctl", "--port", str(self.broker.port)]
        cmd += ["--token", token] if token else ["--keys", self.keys.private, "--kid", self.keys.es256_kid]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def test_every_kind_of_answer(self):
        self.start_broker()
        rc, out, err = self.chatctl("--command", "setChannel", "--channel", "ops",
                                    "--doc", '{"type":"group","members":["alice","bob"]}')
        self.assertEqual(rc, 0, err)
        self.assertIn("doc.members[0]: alice\ndoc.members[1]: bob\n", out)  # human-readable by default
        rc, out, err = self.chatctl("--command", "sendMessage", "--channel", "ops", "--user", "bob", "--body", "hi")
        self.assertEqual(rc, 0, err)
        self.assertIn("seq: 1\n", out)
        rc, out, err = self.chatctl("--command", "getHistory", "--channel", "ops", "--limit", "5", "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["data"]["messages"][0]["body"], "hi")
        rc, out, err = self.chatctl("--command", "getChannel", "--channel", "missing")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("no such channel", err)
        rc, out, err = self.chatctl("--command", "listChannels", token=self.keys.token("alice"))
        self.assertEqual(rc, 1)
        self.assertIn("not an admin", err)
        rc, out, err = self.chatctl("--command", "getStats", "--doc", "[1]")
        self.assertEqual(rc, 2, "a usage error")
        self.broker.stop()
        rc, out, err = self.chatctl("--command", "getStats", "--timeout", "2")
        self.assertEqual(rc, 1)
        self.assertIn("cannot connect", err)
        helped = subprocess.run([self.keys.chatctl, "ctl", "--help"], capture_output=True, text=True)
        self.assertEqual(helped.returncode, 0)
        self.assertIn("sendMessage", helped.stdout)


class ControlClusterTest(ControlCase):
    def test_commands_work_the_same_on_every_node(self):
        nodes = self.start_cluster(3)
        admins = [self.connect("root", admin=True, broker=n) for n in nodes]
        self.ok(admins[0], "setChannel", channel="team", doc={"type": "group", "members": ["alice", "bob"]})
        poll(lambda: [c["channel"] for c in self.ok(admins[2], "listChannels")["channels"]] == ["team"], 10,
             what="the channel on node 3")
        bob = self.connect("bob", broker=nodes[2])
        bob.subscribe(msg_topic("team"))
        sent = self.ok(admins[0], "sendMessage", channel="team", user="alice", body="hi")
        self.assertEqual(sent["seq"], 1)
        got = decode(bob.wait_messages(msg_topic("team"), 1, 10)[0].payload)
        self.assertEqual((got["seq"], got["from"]), (1, "alice"))
        self.assertEqual([m["seq"] for m in self.ok(admins[1], "getHistory", channel="team")["messages"]], [1])
        # Presence and kickUser across nodes: alice on nodes 1 and 2, kicked from node 3.
        a1 = self.connect("alice", broker=nodes[0])
        a2 = self.connect("alice", broker=nodes[1])
        poll(lambda: self.ok(admins[2], "getPresence", user="alice")["devices"] == 2, 10, what="alice on 2 devices")
        self.ok(admins[2], "kickUser", user="alice")
        poll(lambda: not a1.connected and not a2.connected, 10, what="alice kicked on every node")
        poll(lambda: self.ok(admins[0], "getPresence", user="alice")["status"] == "offline", 10,
             what="alice offline")
        # revokeToken on node 1: the token is refused on node 3; unread counts from node 2.
        token = self.keys.token("bob", jti="bob-revoked")
        self.assertTrue(self.ok(admins[0], "revokeToken", jti="bob-revoked")["was_unused"])
        time.sleep(0.3)  # the claim reaches the other nodes on the feed
        self.assertEqual(self.client("bob", token, broker=nodes[2]).connect_rc, 5)
        self.assertEqual(self.ok(admins[1], "getUnread", user="bob")["channels"]["team"]["unread"], 1)
        self.assertEqual(self.ok(admins[1], "getStats")["channels"], 1)
        # The same refusals on every node: non-admin, malformed, unknown, bad arguments.
        user = self.connect("carol", broker=nodes[1])
        self.assertEqual(self.ask(user, {"command": "getChannel", "channel": "team"})[0]["error"], "not an admin")
        self.assertIn("error", self.ask(admins[1], raw="{not json")[0])
        self.assertIn("unknown command", self.err(admins[2], "nope"))
        self.assertIn("'user'", self.err(admins[2], "getPresence", user=7))
        self.assertEqual(self.ok(admins[1], "getChannel", channel="team")["doc"]["members"], ["alice", "bob"])
        # deleteChannel on node 3 deletes it everywhere.
        self.ok(admins[2], "deleteChannel", channel="team")
        poll(lambda: self.ok(admins[0], "listChannels")["channels"] == [], 10, what="team gone on node 1")
        self.assertIn("no such channel", self.err(admins[0], "getHistory", channel="team"))
        for n in nodes:
            n.assert_alive()

    def test_trace_follows_a_message_from_node_a_to_a_reader_on_node_c(self):
        nodes = self.start_cluster(3)
        admin = self.connect("root", admin=True, broker=nodes[1])
        self.ok(admin, "setChannel", channel="tr", doc={"type": "group", "members": ["alice", "bob", "carol"]})
        for n in nodes[1:]:
            w = self.connect("it-admin", admin=True, broker=n)
            w.subscribe(admin_topic("tr"))
            poll(lambda: any(m.payload for m in w.messages(admin_topic("tr"))), 10, what="channel on every node")
        bob = self.connect("bob", broker=nodes[2])
        bob.subscribe(msg_topic("tr"))
        alice = self.connect("alice", broker=nodes[0])
        before = now_ms_()
        msg_id = self.send(alice, "tr", body="trace me")
        got = decode(bob.wait_messages(msg_topic("tr"), 1, 10)[0].payload)
        bob.publish("chat/tr/receipt", msgpack.packb({"kind": "read", "upto": got["seq"]}))
        poll(lambda: self.ok(admin, "traceMessage", channel="tr", seq=got["seq"])["read"] == ["bob"], 10,
             what="bob's read receipt in the trace")
        for by in ({"seq": got["seq"]}, {"id": msg_id.hex()}):
            t = self.ok(admin, "traceMessage", channel="tr", **by)
            self.assertEqual((t["ch"], t["seq"], t["id"], t["from"]), ("tr", got["seq"], msg_id.hex(), "alice"))
            self.assertEqual((t["node"], t["client"]), ("node1", alice.client_id))
            self.assertEqual(t["ts"], got["ts"])
            self.assertEqual(t["sts"], got["sts"])
            self.assertGreaterEqual(t["stored_ms"], t["sts"])
            self.assertGreaterEqual(t["sts"], before)
            self.assertEqual((t["delivered"], t["read"], t["pending"]), (["bob"], ["bob"], ["alice", "carol"]))
            self.assertEqual(t["fanout"], {"node1": 0, "node2": 0, "node3": 1}, "bob on node 3 only")
        self.assertIn("not in history", self.err(admin, "traceMessage", channel="tr", seq=99))
        self.assertIn("'seq' or 'id'", self.err(admin, "traceMessage", channel="tr"))


def now_ms_():
    return int(time.time() * 1000)


if __name__ == "__main__":
    unittest.main()
