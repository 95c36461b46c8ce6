"""Spec section 6 (declarative part): retained channel documents on $chat/admin/channels/<ch>."""

import json
import os
import unittest

from chatharness import (ADMIN_ERROR_TOPIC, SUBACK_REFUSED_V5, SUBACK_REFUSED_V311, ChatTestCase, MQTTv5, MQTTv311,
                         admin_topic, msg_topic)

DOC_KEYS = {"type", "members", "history", "receipts", "typing"}


class ChannelDocuments(ChatTestCase):

    def setUp(self):
        self.start_broker()
        self.admin = self.admin_client()

    def publish_doc(self, client, ch, doc, retain=True):
        payload = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
        return client.publish(admin_topic(ch), payload, qos=1, retain=retain)

    def assert_admin_error(self, client, ch, n=1):
        err = json.loads(client.wait_messages(ADMIN_ERROR_TOPIC, n)[n - 1].payload)
        self.assertEqual(set(err), {"channel", "error"}, err)
        self.assertEqual(err["channel"], ch)
        self.assertIsInstance(err["error"], str)
        self.assertTrue(err["error"])
        return err

    def assert_can_chat(self, user, ch):
        c = self.connect(user)
        self.assertEqual(c.subscribe(msg_topic(ch)), [1], "%s may not subscribe to %s" % (user, ch))
        self.assert_delivered_once([c], ch, self.send(c, ch))

    def assert_cannot_chat(self, user, ch):
        c = self.connect(user)
        self.assertEqual(c.subscribe(msg_topic(ch)), [SUBACK_REFUSED_V311], "%s may subscribe to %s" % (user, ch))
        msg_id = self.send(c, ch)
        self.assert_error(c, ch, "not_member", msg_id, id_required=False)

    # ---- valid documents

    def test_valid_document_is_retained_in_normal_form(self):
        r = self.publish_doc(self.admin, "g1", {"members": ["zoe", "adam", "adam"], "type": "group"})
        self.assertLess(r.reason, 0x80)
        full = {"type": "direct", "members": ["bob", "alice"], "receipts": False, "typing": False,
                "history": {"max": 10, "max_age_s": 60}}
        self.assertLess(self.publish_doc(self.admin, "d1", full).reason, 0x80)
        self.assertLess(self.publish_doc(self.admin, "o1", {"type": "open"}).reason, 0x80)

        docs = self.retained_channel_docs()
        self.assertEqual(set(docs), {"g1", "d1", "o1"})
        g1 = docs["g1"]
        self.assertLessEqual(set(g1), DOC_KEYS)
        self.assertEqual(g1["type"], "group")
        self.assertEqual(g1["members"], ["adam", "zoe"])
        self.assertIsInstance(g1["receipts"], bool)
        self.assertIsInstance(g1["typing"], bool)
        self.assertEqual(docs["d1"], dict(full, members=["alice", "bob"]))
        self.assertEqual(docs["o1"]["type"], "open")
        self.assertEqual(docs["o1"].get("members", []), [])
        self.assert_can_chat("adam", "g1")
        self.assert_cannot_chat("alice", "g1")
        self.assert_can_chat("alice", "d1")
        self.assert_can_chat("anyone", "o1")
        self.assertEqual(self.admin.messages(ADMIN_ERROR_TOPIC), [])

    def test_document_is_retained_even_without_the_retain_flag(self):
        self.assertLess(self.publish_doc(self.admin, "g2", {"type": "group", "members": ["alice"]},
                                         retain=False).reason, 0x80)
        self.assertEqual(self.retained_channel_docs()["g2"]["members"], ["alice"])

    def test_new_document_replaces_the_old_one(self):
        self.publish_doc(self.admin, "g3", {"type": "group", "members": ["alice", "bob"]})
        self.publish_doc(self.admin, "g3", {"type": "group", "members": ["carol"], "typing": False})
        doc = self.retained_channel_docs()["g3"]
        self.assertEqual((doc["members"], doc["typing"]), (["carol"], False))
        self.assert_can_chat("carol", "g3")
        self.assert_cannot_chat("alice", "g3")

    # ---- invalid documents

    def test_invalid_documents_are_refused_and_change_nothing(self):
        previous = {"type": "group", "members": ["alice", "bob"]}
        self.assertLess(self.publish_doc(self.admin, "c1", previous).reason, 0x80)
        before = self.retained_channel_docs()
        other_admin = self.connect("other-admin", admin=True)
        self.assertEqual(other_admin.subscribe("$chat/#"), [1])
        cases = [
            ("not JSON", "{"),
            ("not UTF-8", b"\xff\xfe\x00"),
            ("JSON array", "[]"),
            ("JSON string", '"group"'),
            ("JSON null", "null"),
            ("unknown field", {"type": "group", "members": ["alice", "carol"], "colour": "red"}),
            ("type missing", {"members": ["alice", "carol"]}),
            ("type unknown", {"type": "public", "members": ["alice", "carol"]}),
            ("type not a string", {"type": 1, "members": ["alice", "carol"]}),
            ("direct with 3 members", {"type": "direct", "members": ["alice", "bob", "carol"]}),
            ("direct with 1 member", {"type": "direct", "members": ["carol"]}),
            ("direct with one member twice", {"type": "direct", "members": ["carol", "carol"]}),
            ("group with no members", {"type": "group", "members": []}),
            ("group without members", {"type": "group"}),
            ("member id with a space", {"type": "group", "members": ["carol", "bad user"]}),
            ("member id with a slash", {"type": "group", "members": ["carol", "a/b"]}),
            ("member id too long", {"type": "group", "members": ["carol", "m" * 65]}),
            ("member id empty", {"type": "group", "members": ["carol", ""]}),
            ("member not a string", {"type": "group", "members": ["carol", 7]}),
            ("members not an array", {"type": "group", "members": "carol"}),
            ("receipts not a boolean", {"type": "group", "members": ["carol"], "receipts": "yes"}),
            ("typing not a boolean", {"type": "group", "members": ["carol"], "typing": 1}),
            ("history not an object", {"type": "group", "members": ["carol"], "history": 5}),
            ("history.max negative", {"type": "group", "members": ["carol"], "history": {"max": -1}}),
            ("history.max_age_s a string", {"type": "group", "members": ["carol"], "history": {"max_age_s": "1d"}}),
            ("history unknown field", {"type": "group", "members": ["carol"], "history": {"min": 1}}),
        ]
        for n, (name, doc) in enumerate(cases, 1):
            with self.subTest(name):
                r = self.publish_doc(self.admin, "c1", doc)
                self.assertEqual(r.reason, 0x87)
                self.assert_admin_error(self.admin, "c1", n)
                self.assertEqual(self.retained_channel_docs(), before)
        # The error went to the publisher only, and the configuration in force did not move.
        other_admin.sync()
        self.assertEqual(other_admin.messages(ADMIN_ERROR_TOPIC), [])
        self.assert_can_chat("bob", "c1")
        self.assert_cannot_chat("carol", "c1")

    def test_invalid_document_does_not_create_a_channel(self):
        r = self.publish_doc(self.admin, "c-new", {"type": "group", "members": ["alice"], "bogus": 1})
        self.assertEqual(r.reason, 0x87)
        self.assert_admin_error(self.admin, "c-new")
        self.assertEqual(self.retained_channel_docs(), {})
        self.assert_cannot_chat("alice", "c-new")

    def test_invalid_channel_id_in_the_topic_is_not_retained(self):
        for ch in ("bad id", "x" * 65, "a.b:c"):
            with self.subTest(channel=ch):
                r = self.publish_doc(self.admin, ch, {"type": "group", "members": ["alice"]})
                self.assertEqual(r.reason, 0x87)
        self.assertEqual(self.retained_channel_docs(), {})
        self.broker.assert_alive()

    # ---- non-admins

    def test_non_admin_document_is_refused(self):
        self.publish_doc(self.admin, "c1", {"type": "group", "members": ["alice", "bob"]})
        before = self.retained_channel_docs()
        for protocol in (MQTTv311, MQTTv5):
            with self.subTest(protocol=protocol):
                carol = self.connect("carol", protocol=protocol)
                attempts = [("c2", {"type": "group", "members": ["carol"]}),     # create
                            ("c1", {"type": "group", "members": ["carol"]}),     # take over
                            ("c1", b"")]                                         # delete
                for n, (ch, doc) in enumerate(attempts, 1):
                    r = self.publish_doc(carol, ch, doc)
                    if protocol == MQTTv5:
                        self.assertEqual(r.reason, 0x87)
                    self.assert_admin_error(carol, ch, n)
                carol.assert_connected()
                self.assertEqual(self.retained_channel_docs(), before)
        self.assert_can_chat("bob", "c1")
        self.assert_cannot_chat("carol", "c1")
        self.assert_cannot_chat("carol", "c2")

    def test_non_admin_cannot_subscribe_to_admin_topics(self):
        self.publish_doc(self.admin, "c1", {"type": "group", "members": ["alice"]})
        filters = [admin_topic("+"), admin_topic("c1"), "$chat/#", "$chat/admin/#", ADMIN_ERROR_TOPIC]
        for protocol, refused in ((MQTTv311, SUBACK_REFUSED_V311), (MQTTv5, SUBACK_REFUSED_V5)):
            alice = self.connect("alice", protocol=protocol)
            for f in filters:
                with self.subTest(protocol=protocol, filter=f):
                    self.assertEqual(alice.subscribe(f), [refused])
            alice.sync()
            alice.assert_connected()
            self.assertEqual(alice.messages("$chat/#"), [])
        for f in filters:
            with self.subTest(admin=True, filter=f):
                self.assertEqual(self.admin.subscribe(f), [1])

    # ---- deletion

    def test_empty_retained_payload_deletes_the_channel(self):
        self.publish_doc(self.admin, "c3", {"type": "group", "members": ["alice", "bob"]})
        self.publish_doc(self.admin, "keep", {"type": "group", "members": ["alice"]})
        alice, bob = self.connect("alice"), self.connect("bob")
        self.assertEqual(bob.subscribe(msg_topic("c3")), [1])
        self.assert_delivered_once([bob], "c3", self.send(alice, "c3", body="before"))

        self.assertLess(self.publish_doc(self.admin, "c3", b"").reason, 0x80)
        self.assertEqual(set(self.retained_channel_docs()), {"keep"})
        msg_id = self.send(alice, "c3", body="after")
        self.assert_error(alice, "c3", "not_member", msg_id, id_required=False)
        self.assertEqual(bob.subscribe(msg_topic("c3")), [SUBACK_REFUSED_V311])
        bob.sync()
        self.assertEqual([d["body"] for d in self.deliveries(bob, "c3")], ["before"])
        self.assertEqual(self.admin.messages(ADMIN_ERROR_TOPIC), [])

    def test_deleting_and_recreating_restarts_seq(self):
        doc = {"type": "group", "members": ["alice", "bob"]}
        self.publish_doc(self.admin, "c4", doc)
        alice, bob = self.connect("alice"), self.connect("bob")
        self.assertEqual(bob.subscribe(msg_topic("c4")), [1])
        for _ in range(2):
            self.send(alice, "c4")
        self.assertEqual([d["seq"] for d in bob.chat(msg_topic("c4"), 2)], [1, 2])
        self.delete_channel("c4")
        self.set_channel("c4", **doc)
        bob.clear()
        [d] = self.assert_delivered_once([bob], "c4", self.send(alice, "c4"))
        self.assertEqual(d["seq"], 1)


class Persistence(ChatTestCase):
    """The configuration outlives a restart, with or without Mosquitto's own retained store."""

    def setUp(self):
        self.start_broker(persistence=True)
        self.set_channel("c5", "group", ("alice", "bob"))
        self.set_channel("c6", "group", ("alice", "bob"))
        self.set_channel("c7", "group", ("alice", "bob", "carol"))
        self.delete_channel("c6")
        self.set_channel("c7", "group", ("alice", "carol"))   # bob removed
        self.expected = self.retained_channel_docs()
        self.assertEqual(set(self.expected), {"c5", "c7"})

    def check_after_restart(self):
        self.assertEqual(self.retained_channel_docs(), self.expected)
        alice, bob, carol = self.connect("alice"), self.connect("bob"), self.connect("carol")
        self.assertEqual(bob.subscribe(msg_topic("c5")), [1])
        self.assertEqual(carol.subscribe(msg_topic("c7")), [1])
        # Channels work (the memory store forgets seq, so no assertion on its value).
        self.assert_delivered_once([bob], "c5", self.send(alice, "c5"))
        self.assert_delivered_once([carol], "c7", self.send(alice, "c7"))
        # Removed and deleted stay so.
        for ch in ("c6", "c7"):
            with self.subTest(channel=ch):
                self.assertEqual(bob.subscribe(msg_topic(ch)), [SUBACK_REFUSED_V311])
                msg_id = self.send(bob, ch)
                self.assert_error(bob, ch, "not_member", msg_id, id_required=False)

    def test_configuration_survives_a_restart(self):
        self.broker.restart()
        self.check_after_restart()

    def test_configuration_survives_losing_the_brokers_retained_store(self):
        self.broker.stop()
        db = os.path.join(self.broker.dir, "mosquitto.db")
        self.assertTrue(os.path.exists(db), "mosquitto did not save its store")
        os.remove(db)
        self.assertTrue(os.path.exists(os.path.join(self.broker.dir, "channels.json")))
        self.broker.start()
        self.check_after_restart()


if __name__ == "__main__":
    unittest.main()
