"""Spec sections 1 and 7: connect tokens, key rotation, reload, and plugin options."""

import json
import os
import time
import unittest

from chatharness import (ADMIN_ERROR_TOPIC, CONNACK_REFUSED_V5, CONNACK_REFUSED_V311, Broker, ChatTestCase, Keys,
                         MQTTv5, MQTTv311, admin_topic, b64url_decode, b64url_encode, craft_hs256_token, msg_topic,
                         poll, raw_connect_v5)

REFUSED = {MQTTv311: CONNACK_REFUSED_V311, MQTTv5: CONNACK_REFUSED_V5}
PROTOCOLS = (MQTTv311, MQTTv5)


class Tokens(ChatTestCase):

    def setUp(self):
        self.start_broker()

    def assert_refused(self, user, token, protocols=PROTOCOLS, broker=None):
        for protocol in protocols:
            c = self.client(user, token, protocol, broker)
            self.assertEqual(c.connect_rc, REFUSED[protocol],
                             "token for %r accepted on protocol %d" % (user, protocol))

    def assert_accepted(self, user, token, protocol=MQTTv311, broker=None):
        c = self.client(user, token, protocol, broker)
        self.assertEqual(c.connect_rc, 0, "token for %r refused on protocol %d" % (user, protocol))
        return c

    def new_keys(self, name, kid_prefix):
        return Keys(os.path.join(self.tmp, "%s-%s" % (self._testMethodName, name)), kid_prefix)

    # ---- valid tokens

    def test_es256_and_hs256_tokens_are_accepted(self):
        for kid in (self.keys.es256_kid, self.keys.hs256_kid):
            for protocol in PROTOCOLS:
                with self.subTest(kid=kid, protocol=protocol):
                    self.assert_accepted("alice", self.keys.token("alice", kid=kid), protocol).assert_connected()

    def test_username_must_be_empty_or_the_sub(self):
        for protocol in PROTOCOLS:
            with self.subTest(protocol=protocol, username="bob"):
                self.assert_refused("bob", self.keys.token("alice"), [protocol])
            with self.subTest(protocol=protocol, username=""):
                self.assert_accepted("", self.keys.token("alice"), protocol)
        with self.subTest("MQTT 5 password without a username"):
            self.assertEqual(raw_connect_v5(self.broker.port, "raw-nouser", None, self.keys.token("alice")), 0)
            self.assertEqual(raw_connect_v5(self.broker.port, "raw-other", "bob", self.keys.token("alice")),
                             CONNACK_REFUSED_V5)

    def test_identity_is_the_sub_whatever_the_username(self):
        self.set_channel("room", "group", ("alice", "bob"))
        bob = self.connect("bob")
        self.assertEqual(bob.subscribe(msg_topic("room")), [1])
        anonymous_name = self.assert_accepted("", self.keys.token("alice"), MQTTv5)
        msg_id = self.send(anonymous_name, "room")
        [d] = self.assert_delivered_once([bob], "room", msg_id)
        self.assertEqual(d["from"], "alice")

    # ---- single use

    def test_second_connect_with_the_same_token_is_refused(self):
        token = self.keys.token("alice")
        first = self.assert_accepted("alice", token)
        self.assert_refused("alice", token)
        first.assert_connected()
        # Still refused once the first connection is gone: the jti stays used while unexpired.
        first.close()
        self.assert_refused("alice", token)

    def test_same_jti_in_a_new_token_is_refused(self):
        self.assert_accepted("alice", self.keys.token("alice", jti="fixed-jti-1"))
        self.assert_refused("alice", self.keys.token("alice", jti="fixed-jti-1", ttl=120))
        self.assert_accepted("alice", self.keys.token("alice", jti="fixed-jti-2"))

    # ---- time

    def test_expired_token_is_refused(self):
        now = int(time.time())
        self.assert_refused("alice", self.keys.token("alice", iat=now - 100, ttl=60))   # exp 40 s ago
        self.assert_refused("alice", self.keys.token("alice", iat=now - 3600, ttl=60))

    def test_token_just_past_exp_is_accepted_within_the_leeway(self):
        now = int(time.time())
        self.assert_accepted("alice", self.keys.token("alice", iat=now - 62, ttl=60))   # exp 2 s ago, leeway 5 s

    def test_lifetime_longer_than_the_maximum_is_refused(self):
        self.assert_accepted("alice", self.keys.token("alice", ttl=300))
        self.assert_refused("alice", self.keys.token("alice", ttl=301))
        self.assert_refused("alice", self.keys.token("alice", ttl=86400))

    def test_token_max_lifetime_option(self):
        short = self.start_broker({"token_max_lifetime_s": 30})
        self.assert_accepted("alice", self.keys.token("alice", ttl=30), broker=short)
        self.assert_refused("alice", self.keys.token("alice", ttl=31), broker=short)

    # ---- keys

    def test_unknown_kid_is_refused(self):
        other = self.new_keys("other", "other")
        self.assert_refused("alice", other.token("alice"))
        self.assert_refused("alice", other.token("alice", kid=other.hs256_kid))

    def test_token_signed_by_another_key_with_the_same_kid_is_refused(self):
        twin = self.new_keys("twin", self.kid_prefix)
        self.assertEqual(twin.es256_kid, self.keys.es256_kid)
        self.assert_refused("alice", twin.token("alice"))
        self.assert_refused("alice", twin.token("alice", kid=twin.hs256_kid))

    def test_forged_and_incomplete_tokens_are_refused(self):
        secret = self.keys.hs256_secret()
        now = int(time.time())

        def claims(**change):
            c = {"sub": "alice", "iat": now, "exp": now + 60, "jti": os.urandom(8).hex()}
            c.update(change)
            return {k: v for k, v in c.items() if v is not None}

        def hs(header=None, **change):
            h = {"alg": "HS256", "typ": "JWT", "kid": self.keys.hs256_kid}
            h.update(header or {})
            return craft_hs256_token(secret, {k: v for k, v in h.items() if v is not None}, claims(**change))

        def unsigned(alg):
            head = b64url_encode(json.dumps({"alg": alg, "kid": self.keys.hs256_kid}).encode())
            return "%s.%s." % (head, b64url_encode(json.dumps(claims()).encode()))

        def resigned_payload(**change):
            head, _, sig = self.keys.token("alice").split(".")
            return "%s.%s.%s" % (head, b64url_encode(json.dumps(claims(**change)).encode()), sig)

        def flipped_signature():
            head, body, sig = self.keys.token("alice").split(".")
            raw = bytearray(b64url_decode(sig))
            raw[0] ^= 1
            return "%s.%s.%s" % (head, body, b64url_encode(bytes(raw)))

        # Control: the crafting itself is right.
        self.assert_accepted("alice", hs())
        cases = {
            "alg none": ("alice", unsigned("none")),
            "alg None": ("alice", unsigned("None")),
            "HS256 under the ES256 kid": ("alice", hs({"kid": self.keys.es256_kid})),
            "HS384 header": ("alice", hs({"alg": "HS384"})),
            "no kid": ("alice", hs({"kid": None})),
            "payload swapped, signature kept": ("bob", resigned_payload(sub="bob")),
            "signature altered": ("alice", flipped_signature()),
            "sub with a space": ("", hs(sub="bad user")),
            "sub with a slash": ("", hs(sub="a/b")),
            "sub empty": ("", hs(sub="")),
            "sub too long": ("", hs(sub="a" * 65)),
            "sub not a string": ("", hs(sub=42)),
            "no sub": ("", hs(sub=None)),
            "no exp": ("alice", hs(exp=None)),
            "no iat": ("alice", hs(iat=None)),
            "no jti": ("alice", hs(jti=None)),
            "exp as a string": ("alice", hs(exp=str(now + 60))),
            "not a JWT": ("alice", "hunter2"),
            "two segments": ("alice", ".".join(hs().split(".")[:2])),
        }
        for name, (user, token) in cases.items():
            with self.subTest(name):
                self.assert_refused(user, token)
        self.broker.assert_alive()

    # ---- admin role

    def test_channel_documents_need_the_admin_role(self):
        doc = json.dumps({"type": "group", "members": ["alice"]})
        alice = self.connect("alice", protocol=MQTTv5)
        r = alice.publish(admin_topic("mine"), doc, retain=True)
        self.assertEqual(r.reason, 0x87)
        err = json.loads(alice.wait_messages(ADMIN_ERROR_TOPIC)[0].payload)
        self.assertEqual(err["channel"], "mine")
        self.assertTrue(err["error"])
        self.assertEqual(alice.subscribe(msg_topic("mine")), [0x87], "the document took effect")

        secret = self.keys.hs256_secret()
        now = int(time.time())
        for role in ("user", "Admin", ["admin"]):
            with self.subTest(role=role):
                token = craft_hs256_token(secret, {"alg": "HS256", "kid": self.keys.hs256_kid},
                                          {"sub": "alice", "iat": now, "exp": now + 60, "jti": os.urandom(8).hex(),
                                           "role": role})
                c = self.client("alice", token, MQTTv5)
                if c.connect_rc == 0:  # a strange role may refuse the token; it must never grant admin
                    self.assertEqual(c.publish(admin_topic("mine"), doc, retain=True).reason, 0x87)

        admin = self.connect("root", admin=True, protocol=MQTTv5)
        self.assertLess(admin.publish(admin_topic("mine"), doc, retain=True).reason, 0x80)
        self.assertEqual(alice.subscribe(msg_topic("mine")), [1])

    # ---- rotation and reload

    def test_jwks_file_change_is_picked_up_without_restart(self):
        new = self.new_keys("rot", "rot")
        with open(self.broker.jwks_path, "w") as f:   # overwritten in place, as `cp` would
            f.write(new.public_text())
        poll(lambda: self.client("alice", new.token("alice")).connect_rc == 0, timeout=6.0, interval=0.2,
             what="a token of the new key to be accepted")
        self.assert_accepted("alice", new.token("alice", kid=new.hs256_kid))
        self.assert_refused("alice", self.keys.token("alice"))
        self.assert_refused("alice", self.keys.token("alice", kid=self.keys.hs256_kid))
        self.broker.assert_alive()

    def test_several_keys_live_at_once(self):
        new = self.new_keys("both", "both")
        merged = {"keys": json.loads(self.keys.public_text())["keys"] + json.loads(new.public_text())["keys"]}
        self.broker.set_jwks(json.dumps(merged))
        poll(lambda: self.client("alice", new.token("alice")).connect_rc == 0, timeout=6.0, interval=0.2,
             what="a token of the added key to be accepted")
        self.assert_accepted("alice", self.keys.token("alice"))
        self.assert_accepted("alice", self.keys.token("alice", kid=self.keys.hs256_kid))
        self.assert_accepted("alice", new.token("alice", kid=new.hs256_kid))

    def test_broken_jwks_file_keeps_the_keys_in_use(self):
        broker = self.start_broker({"jwks_check_interval_ms": 100})
        broker.set_jwks('{"keys": [ {"kty": "EC"')
        broker.wait_log("keeping the")  # the check saw the broken file
        broker.assert_alive()
        self.assert_accepted("alice", self.keys.token("alice"), broker=broker)

    def test_sighup_reloads_the_jwks_file(self):
        broker = self.start_broker({"jwks_check_interval_ms": 3600000})
        new = self.new_keys("hup", "hup")
        broker.set_jwks(new)
        self.assert_refused("alice", new.token("alice"), [MQTTv311], broker)  # no periodic check for an hour
        broker.sighup()
        poll(lambda: self.client("alice", new.token("alice"), broker=broker).connect_rc == 0, timeout=5.0,
             interval=0.1, what="a token of the new key to be accepted after SIGHUP")
        self.assert_refused("alice", self.keys.token("alice"), broker=broker)

    def test_sighup_keeps_connected_clients_and_their_tokens_single_use(self):
        self.set_channel("room", "group", ("alice", "bob"))
        alice_token = self.keys.token("alice")
        alice = self.assert_accepted("alice", alice_token, MQTTv311)
        bob = self.assert_accepted("bob", self.keys.token("bob"), MQTTv5)
        for c in (alice, bob):
            self.assertEqual(c.subscribe(msg_topic("room")), [1])
        for round_ in (1, 2):
            with self.subTest(sighup=round_):
                self.broker.sighup()
                self.broker.wait_log("Reloading config", timeout=5.0)
                time.sleep(0.5)  # the re-check of every client runs right after
                for c in (alice, bob):
                    c.assert_connected()
                self.assert_delivered_once([alice, bob], "room", self.send(alice, "room", body="after hup"))
                self.assert_delivered_once([alice, bob], "room", self.send(bob, "room", body="after hup"))
        # The re-check is not a replay, and a reload is no window for one either.
        self.assert_refused("alice", alice_token)
        self.broker.assert_alive()


class PluginOptions(ChatTestCase):
    """Spec 7: a bad value stops the broker at start with a log line naming the option."""

    def test_bad_options_stop_the_broker(self):
        cases = [
            ({"replay_window_s": "abc"}, "plugin_opt_replay_window_s"),
            ({"unknown": "1"}, "plugin_opt_unknown"),
            ({"dedup_window_s": "10"}, "plugin_opt_dedup_window_s"),           # < 2 * replay_window_s (120)
            ({"replay_window_s": "400", "dedup_window_s": "600"}, "plugin_opt_dedup_window_s"),
            ({"max_body_bytes": "0"}, "plugin_opt_max_body_bytes"),
            ({"max_body_bytes": "-5"}, "plugin_opt_max_body_bytes"),
            ({"store": "bogus"}, "plugin_opt_store"),
            ({"auth_fallback": "yes"}, "plugin_opt_auth_fallback"),
            ({"token_single_use": "1"}, "plugin_opt_token_single_use"),
            ({"token_max_lifetime_s": "-1"}, "plugin_opt_token_max_lifetime_s"),
            ({"token_leeway_s": "5s"}, "plugin_opt_token_leeway_s"),
            ({"rate_limit_per_s": "many"}, "plugin_opt_rate_limit_per_s"),
            ({"topic_prefix": "a/b"}, "plugin_opt_topic_prefix"),
            ({"topic_prefix": "$chat"}, "plugin_opt_topic_prefix"),
            ({"local_fsync": "sometimes"}, "plugin_opt_local_fsync"),
        ]
        for options, name in cases:
            with self.subTest(options=options):
                broker = Broker(options, jwks=self.keys)
                self.addCleanup(broker.cleanup)
                broker.spawn()
                rc = broker.wait_exit(10.0)
                self.assertNotEqual(rc, 0, "mosquitto started with %r" % options)
                self.assertIn(name, broker.log())

    def test_missing_or_broken_jwks_file_stops_the_broker(self):
        for name, content in (("missing", None), ("not JSON", "{{{"), ("not a JWKS", '{"kid": 1}')):
            with self.subTest(name):
                broker = Broker({}, jwks=content)
                self.addCleanup(broker.cleanup)
                broker.spawn()
                self.assertNotEqual(broker.wait_exit(10.0), 0)
                self.assertIn(broker.jwks_path, broker.log())
                self.assertIn("plugin_opt_jwks_file", broker.log(), "the log line names the option")

    def test_valid_options_start(self):
        self.start_broker({"replay_window_s": 30, "dedup_window_s": 60, "max_body_bytes": 10, "rate_limit_per_s": 0,
                           "token_max_lifetime_s": 60, "token_leeway_s": 0, "token_single_use": False,
                           "auth_fallback": False, "topic_prefix": "talk"})
        self.connect("alice").assert_connected()


if __name__ == "__main__":
    unittest.main()
