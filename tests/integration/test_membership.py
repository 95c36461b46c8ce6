"""Spec section 3: who may publish to and subscribe to which topics."""

import os
import subprocess
import unittest

import msgpack

from chatharness import (ADMIN_ERROR_TOPIC, MQTTv5, MQTTv311, SUBACK_REFUSED_V5, SUBACK_REFUSED_V311,
                         ChatTestCase, chat_message, decode, error_topic, msg_topic, new_id)

TEAM = "team"      # group: alice, bob
LOBBY = "lobby"    # open


def refused(protocol):
    return SUBACK_REFUSED_V5 if protocol == MQTTv5 else SUBACK_REFUSED_V311


class Membership(ChatTestCase):

    def setUp(self):
        self.start_broker()
        self.set_channel(TEAM, "group", ("alice", "bob"))
        self.set_channel(LOBBY, "open")
        self.alice = self.connect("alice")
        self.bob = self.connect("bob")

    def assert_still_usable(self, client):
        """The client is connected and can still do what it is allowed to do."""
        client.assert_connected()
        self.assertEqual(client.subscribe(msg_topic(LOBBY)), [1])
        msg_id = self.send(client, LOBBY)
        self.assert_delivered_once([client], LOBBY, msg_id)

    def test_non_member_subscribe_is_refused_without_disconnect(self):
        filters = [msg_topic(TEAM), "chat/team/#", "chat/team/+", error_topic(TEAM), "chat/team/receipt",
                   "chat/team/typing", "chat/team/sync"]
        for protocol in (MQTTv311, MQTTv5):
            mallory = self.connect("mallory", protocol=protocol)
            for f in filters:
                with self.subTest(protocol=protocol, filter=f):
                    self.assertEqual(mallory.subscribe(f), [refused(protocol)])
                    mallory.assert_connected()
            self.assert_still_usable(mallory)
            # Refused means no delivery either.
            self.send(self.alice, TEAM)
            self.bob.subscribe(msg_topic(TEAM))
            self.barrier(self.alice, [self.bob], TEAM)
            mallory.expect_none(msg_topic(TEAM), 0.2)

    def test_member_may_subscribe_to_every_leaf_of_its_channel(self):
        for f in (msg_topic(TEAM), "chat/team/#", "chat/team/+", error_topic(TEAM), "chat/team/receipt"):
            with self.subTest(filter=f):
                self.assertEqual(self.bob.subscribe(f), [1])
        # docs/protocol.md: unknown leaves are refused, even to members.
        for f in ("chat/team/bogus", "chat/team/msg/extra"):
            with self.subTest(filter=f):
                self.assertEqual(self.bob.subscribe(f), [SUBACK_REFUSED_V311])
        self.bob.assert_connected()

    def check_non_member_publish_refused(self, protocol):
        self.assertEqual(self.bob.subscribe(msg_topic(TEAM)), [1])
        self.assertEqual(self.bob.subscribe(error_topic(TEAM)), [1])
        mallory = self.connect("mallory", protocol=protocol)  # subscribed to nothing
        msg_id = new_id()
        r = mallory.publish(msg_topic(TEAM), chat_message(id=msg_id, body="intrusion"))
        if protocol == MQTTv5:
            self.assertEqual(r.reason, 0x87, "a refused message is acknowledged as refused on MQTT 5")
        self.assert_error(mallory, TEAM, "not_member", msg_id, id_required=False)
        mallory.assert_connected()
        # Not delivered, not sequenced, and the error went to mallory only.
        for d in self.barrier(self.alice, [self.bob], TEAM):
            self.assertEqual(d["seq"], 1)
        self.assertEqual([d["body"] for d in self.deliveries(self.bob, TEAM)], ["barrier"])
        self.bob.expect_none(error_topic(TEAM), 0.2)
        self.assertEqual(len(mallory.messages(error_topic(TEAM))), 1)

    def test_non_member_publish_is_refused_with_error_to_that_client_only_v311(self):
        self.check_non_member_publish_refused(MQTTv311)

    def test_non_member_publish_is_refused_with_error_to_that_client_only_v5(self):
        self.check_non_member_publish_refused(MQTTv5)

    def test_unknown_channel_is_not_member(self):
        msg_id = new_id()
        self.alice.publish(msg_topic("nowhere"), chat_message(id=msg_id))
        self.assert_error(self.alice, "nowhere", "not_member", msg_id, id_required=False)
        self.assertEqual(self.alice.subscribe(msg_topic("nowhere")), [SUBACK_REFUSED_V311])
        self.assert_still_usable(self.alice)

    def test_not_member_error_carries_the_message_id(self):
        # Spec 4: the error is {code, reason, id}; the id is readable here (a well-formed message).
        for ch in (TEAM, "nowhere"):
            with self.subTest(channel=ch):
                mallory = self.connect("mallory")
                msg_id = self.send(mallory, ch)
                self.assert_error(mallory, ch, "not_member", msg_id)

    def test_removed_member_stops_receiving_at_once(self):
        self.set_channel(TEAM, "group", ("alice", "bob", "carol"))
        carol = self.connect("carol")
        self.assertEqual(self.alice.subscribe(msg_topic(TEAM)), [1])
        self.assertEqual(self.bob.subscribe(msg_topic(TEAM)), [1])      # exact subscription
        self.assertEqual(carol.subscribe("chat/+/msg"), [1])            # wildcard subscription
        self.barrier(self.alice, [self.alice, self.bob, carol], TEAM)

        self.set_channel(TEAM, "group", ("alice",))
        for d in self.barrier(self.alice, [self.alice], TEAM):
            self.assertEqual(d["seq"], 2)
        self.send(self.alice, TEAM, body="after removal")
        self.assertEqual([d["body"] for d in self.alice.chat(msg_topic(TEAM), 3)],
                         ["barrier", "barrier", "after removal"])
        for removed in (self.bob, carol):
            self.assertEqual(len(removed.messages(msg_topic(TEAM))), 1, "%s still receives" % removed.user)
        # A removed member may no longer publish either.
        msg_id = self.send(self.bob, TEAM)
        self.assert_error(self.bob, TEAM, "not_member", msg_id, id_required=False)

        # Added back, the wildcard subscription delivers the channel again.
        self.set_channel(TEAM, "group", ("alice", "carol"))
        self.barrier(self.alice, [self.alice, carol], TEAM)

    def test_open_channel_lets_any_authenticated_user_subscribe_and_publish(self):
        for protocol in (MQTTv311, MQTTv5):
            with self.subTest(protocol=protocol):
                stranger = self.connect("stranger%d" % protocol, protocol=protocol)
                self.assertEqual(stranger.subscribe(msg_topic(LOBBY)), [1])
                self.assertEqual(self.bob.subscribe(msg_topic(LOBBY)), [1])
                msg_id = self.send(stranger, LOBBY)
                for d in self.assert_delivered_once([stranger, self.bob], LOBBY, msg_id):
                    self.assertEqual(d["from"], stranger.user)
                stranger.expect_none(error_topic(LOBBY), 0.1)

    def test_wildcard_subscriber_receives_only_its_channels(self):
        self.set_channel("secret", "group", ("bob",))
        watchers = []
        for f in ("chat/+/msg", "chat/#", "#", "+/+/msg"):
            w = self.connect("alice")
            self.assertEqual(w.subscribe(f), [1], f)
            watchers.append(w)
        self.bob.subscribe("chat/+/msg")
        self.send(self.bob, "secret", body="hidden")
        self.send(self.bob, TEAM, body="shared")
        self.send(self.bob, LOBBY, body="public")
        self.send(self.bob, "secret", body="hidden too")
        self.barrier(self.bob, watchers + [self.bob], TEAM)
        for w in watchers:
            got = [(d["ch"], d["body"]) for d in (decode(m.payload) for m in w.messages("chat/+/msg"))]
            self.assertEqual(got, [(TEAM, "shared"), (LOBBY, "public"), (TEAM, "barrier")])
        self.assertEqual(len(self.deliveries(self.bob, "secret")), 2)

    def test_nobody_publishes_to_error_or_presence_topics(self):
        admin = self.admin_client()
        self.assertEqual(self.bob.subscribe(error_topic(TEAM)), [1])
        self.assertEqual(self.bob.subscribe(msg_topic(TEAM)), [1])
        watcher = self.connect("carol")
        self.assertEqual(watcher.subscribe("presence/#"), [1])
        forged_error = msgpack.packb({"code": "not_member", "reason": "forged", "id": new_id()}, use_bin_type=True)
        forged_presence = msgpack.packb({"user": "alice", "status": "online", "devices": 99, "since": 1,
                                         "forged": True}, use_bin_type=True)
        for publisher in (self.alice, admin):
            for topic, payload in ((error_topic(TEAM), forged_error), ("presence/alice", forged_presence),
                                   ("presence/bob", forged_presence)):
                with self.subTest(publisher=publisher.user, topic=topic):
                    r = publisher.publish(topic, payload, qos=1, retain=True)
                    if publisher.protocol == MQTTv5:
                        self.assertGreaterEqual(r.reason, 0x80)
                    publisher.assert_connected()
        self.barrier(self.alice, [self.bob], TEAM)
        self.bob.expect_none(error_topic(TEAM), 0.3)
        late = self.connect("dave")
        self.assertEqual(late.subscribe("presence/#"), [1])
        late.wait_messages("presence/dave")  # our own presence, if the plugin publishes it
        for c in (watcher, late):
            forged = [m for m in c.messages("presence/#") if b"forged" in m.payload]
            self.assertEqual(forged, [], "a client's presence publish reached subscribers")

    def test_error_topics_are_never_routed_even_for_their_own_client(self):
        # The plugin's errors go to one client; a publish by anybody to an error topic goes nowhere,
        # including back to the publisher subscribed to it.
        self.assertEqual(self.alice.subscribe(error_topic(TEAM)), [1])
        self.alice.publish(error_topic(TEAM), b"\x80")
        self.alice.expect_none(error_topic(TEAM), 0.3)
        admin = self.admin_client()
        self.assertEqual(admin.subscribe(ADMIN_ERROR_TOPIC), [1])
        self.alice.publish(ADMIN_ERROR_TOPIC, b'{"channel":"x","error":"forged"}')
        admin.expect_none(ADMIN_ERROR_TOPIC, 0.3)


class TokenlessClients(ChatTestCase):
    """auth_fallback: clients of Mosquitto's own password file get ordinary topics only."""

    def setUp(self):
        self.passwd = os.path.join(self.tmp, "passwd-%s" % self._testMethodName)
        subprocess.run(["mosquitto_passwd", "-b", "-c", self.passwd, "legacy", "s3cret"], check=True,
                       capture_output=True)

    def start(self, fallback):
        options = {} if fallback is None else {"auth_fallback": fallback}
        self.start_broker(options, extra_conf="password_file %s" % self.passwd)
        self.set_channel(TEAM, "group", ("alice", "bob", "legacy"))
        self.set_channel(LOBBY, "open")

    def test_fallback_client_uses_ordinary_topics_only(self):
        self.start(True)
        legacy = self.client("legacy", "s3cret")
        self.assertEqual(legacy.connect_rc, 0)
        bob = self.connect("bob")
        self.assertEqual(bob.subscribe(msg_topic(TEAM)), [1])
        # Ordinary topics work.
        self.assertEqual(legacy.subscribe("plain/topic"), [1])
        legacy.publish("plain/topic", b"hello")
        self.assertEqual(legacy.wait_messages("plain/topic")[0].payload, b"hello")
        # Chat, presence and admin topics do not, even though "legacy" is listed as a member.
        for f in (msg_topic(TEAM), msg_topic(LOBBY), "chat/+/msg", "chat/#", "presence/x", "presence/#",
                  "$chat/admin/channels/+", "$chat/#"):
            with self.subTest(filter=f):
                self.assertEqual(legacy.subscribe(f), [SUBACK_REFUSED_V311])
        # A broad filter is granted but carries no chat message.
        self.assertEqual(legacy.subscribe("#"), [1])
        legacy.publish(msg_topic(TEAM), chat_message(body="from legacy"))
        legacy.publish(msg_topic(LOBBY), chat_message(body="from legacy"))
        self.send(bob, TEAM, body="for members")
        self.barrier(bob, [bob], TEAM)
        self.assertEqual([d["body"] for d in self.deliveries(bob, TEAM)], ["for members", "barrier"])
        legacy.publish("plain/topic", b"sync")
        legacy.wait_messages("plain/topic", 2)
        self.assertEqual([m.topic for m in legacy.messages("chat/#")], [])
        self.assertEqual([m.topic for m in legacy.messages("presence/#")], [])
        legacy.assert_connected()
        # Token clients are unaffected by the fallback.
        self.assertEqual(self.connect("alice").subscribe(msg_topic(TEAM)), [1])

    def test_fallback_still_checks_the_password(self):
        self.start(True)
        self.assertEqual(self.client("legacy", "wrong").connect_rc, 5)
        self.assertEqual(self.client(None, None).connect_rc, 5)

    def test_without_fallback_password_file_clients_are_refused(self):
        for fallback in (None, False):
            with self.subTest(auth_fallback=fallback):
                self.start(fallback)
                self.assertEqual(self.client("legacy", "s3cret").connect_rc, 5)
                self.assertEqual(self.client("legacy", "s3cret", MQTTv5).connect_rc, 0x87)
                self.broker.stop()


if __name__ == "__main__":
    unittest.main()
