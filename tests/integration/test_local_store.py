"""The durable embedded store `local` (issue 6): state survives restarts and
kill -9, damaged files stop the broker, a full disk never acknowledges."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from chatharness import (ChatTestCase, Broker, chat_message, decode, msg_topic, poll)

import msgpack


def sync_topic(ch):
    return "chat/%s/sync" % ch


class LocalStoreTest(ChatTestCase):
    def local_broker(self, workdir, fsync="everysec", **options):
        opts = {"store": "local", "local_fsync": fsync}
        opts.update(options)
        return self.start_broker(opts, workdir=workdir, persistence=True)

    def sync_all(self, client, ch, after=0, limit=1000):
        """Every stored message after `after` via the sync API, and the summary."""
        client.clear()
        client.publish(sync_topic(ch), msgpack.packb({"after": after, "limit": limit}), qos=1)
        reply = decode(client.wait_messages(sync_topic(ch), 1, 10)[0].payload)
        return [decode(m.payload) for m in client.messages(msg_topic(ch))], reply

    def test_restart_keeps_history_watermarks_seq_and_dedup(self):
        workdir = tempfile.mkdtemp(prefix="chat-local-")
        self.addCleanup(shutil.rmtree, workdir, True)
        broker = self.local_broker(workdir)
        self.set_channel("room", members=["alice", "bob"])
        alice = self.connect("alice")
        bob = self.connect("bob")
        bob.subscribe(msg_topic("room"))
        kept_id = os.urandom(16)
        self.send(alice, "room", id=kept_id, body="first")
        for i in range(4):
            self.send(alice, "room", body="m%d" % i)
        bob.wait_messages(msg_topic("room"), 5)
        alice.publish("chat/room/receipt", msgpack.packb({"kind": "read", "upto": 3}), qos=1)
        alice.close()
        bob.close()
        self.admin_client().close()

        broker.stop()
        self.assertEqual(broker.returncode, 0)
        broker.start()

        alice = self.connect("alice")
        bob = self.connect("bob")
        bob.subscribe(msg_topic("room"))
        # A retry of an id accepted before the restart is still a duplicate.
        self.send(alice, "room", id=kept_id, body="first (retry)")
        new_id = self.send(alice, "room", body="after restart")
        got = self.assert_delivered_once([bob], "room", new_id)[0]
        self.assertEqual(got["seq"], 6, "seq must continue where it stopped")
        self.assertEqual([d["id"] for d in self.deliveries(bob, "room")], [new_id])

        history, reply = self.sync_all(alice, "room")
        self.assertEqual([m["seq"] for m in history], [1, 2, 3, 4, 5, 6])
        self.assertEqual(history[0]["body"], "first")
        self.assertEqual(reply["head"], 6)
        self.assertEqual(reply["read"], 3, "watermarks survive the restart")
        self.assertEqual(reply["delivered"], 3)

    def test_kill_9_with_fsync_always_loses_no_acknowledged_message(self):
        workdir = tempfile.mkdtemp(prefix="chat-local-")
        self.addCleanup(shutil.rmtree, workdir, True)
        broker = self.local_broker(workdir, fsync="always")
        self.set_channel("burst", members=["alice"])
        alice = self.connect("alice")
        acked = []
        infos = []
        for i in range(400):
            payload = chat_message(body="b%d" % i)
            infos.append((decode(payload)["id"], alice.publish_nowait(msg_topic("burst"), payload, qos=1)))
        # Kill the broker in the middle of the burst.
        poll(lambda: sum(1 for _, info in infos if info.is_published()) >= 50, 10, what="50 acks")
        broker.kill()
        time.sleep(0.3)  # acknowledgements already on the wire are still counted
        acked = [msg_id for msg_id, info in infos if info.is_published()]
        self.assertGreater(len(acked), 0)
        alice.close()

        broker.start()
        reader = self.connect("alice")
        history, reply = self.sync_all(reader, "burst")
        ids = [m["id"] for m in history]
        self.assertEqual([m["seq"] for m in history], list(range(1, len(history) + 1)), "gapless")
        self.assertEqual(len(ids), len(set(ids)), "no message stored twice")
        missing = [i.hex() for i in acked if i not in set(ids)]
        self.assertEqual(missing, [], "acknowledged messages lost by kill -9")

    def test_corrupt_store_refuses_to_start(self):
        workdir = tempfile.mkdtemp(prefix="chat-local-")
        self.addCleanup(shutil.rmtree, workdir, True)
        broker = self.local_broker(workdir)
        self.set_channel("room", members=["alice"])
        self.admin_client().close()
        broker.stop()
        data = os.path.join(workdir, "chat.lmdb", "data.mdb")
        with open(data, "r+b") as f:
            f.write(b"\xde\xad\xbe\xef" * 2048)  # the meta pages
        broker.spawn()
        rc = broker.wait_exit(10)
        self.assertNotEqual(rc, 0, "the broker must not start over a damaged store")
        self.assertRegex(broker.log(), r"chat: cannot open the local store .*refusing to start")

    def test_unreadable_store_refuses_to_start(self):
        workdir = tempfile.mkdtemp(prefix="chat-local-")
        self.addCleanup(shutil.rmtree, workdir, True)
        os.makedirs(os.path.join(workdir, "chat.lmdb"))
        with open(os.path.join(workdir, "chat.lmdb", "data.mdb"), "wb") as f:
            f.write(b"this is not an LMDB file" * 100)
        broker = Broker({"store": "local"}, workdir=workdir, jwks=self.keys)
        self.addCleanup(broker.cleanup)
        broker.spawn()
        self.assertNotEqual(broker.wait_exit(10), 0)
        self.assertIn("local store", broker.log())


class FullDiskTest(ChatTestCase):
    """The store on a small tmpfs that the test fills up and frees."""

    def setUp(self):
        super().setUp()
        self.workdir = tempfile.mkdtemp(prefix="chat-full-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.mnt = os.path.join(self.workdir, "disk")
        os.makedirs(self.mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", self.mnt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s" % r.stderr.decode().strip())
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt])

    def fill(self):
        filler = os.path.join(self.mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (1 << 16, 4096, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)
        return filler

    def run_full_disk(self, fsync):
        broker = self.start_broker({"store": "local", "local_fsync": fsync, "local_dir": self.mnt},
                                   workdir=self.workdir)
        self.set_channel("room", members=["alice", "bob"])
        bob = self.connect("bob")
        bob.subscribe(msg_topic("room"))
        alice = self.connect("alice")
        self.barrier(alice, [bob], "room")
        # Connected before the disk fills: a new connection needs the store
        # too (its token id is recorded), so it is refused while the disk is full.
        plain = self.connect("carol")
        plain.subscribe("plain/topic")
        filler = self.fill()

        # Messages with bodies large enough to need new pages: the store
        # cannot keep them, so they must not be acknowledged.
        refused = False
        publisher = alice
        for i in range(20):
            if not publisher.connected:
                publisher = self.client("alice", self.keys.token("alice"))
                if publisher.connect_rc != 0:
                    continue  # its token id cannot be recorded either: refusing is right
            info = publisher.publish_nowait(msg_topic("room"), chat_message(body="x" * 60000), qos=1)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and publisher.connected and not info.is_published():
                time.sleep(0.02)
            if not info.is_published():
                refused = True
                break
        self.assertTrue(refused, "a publish was acknowledged while the disk was full every time")
        broker.assert_alive()
        # Other traffic keeps flowing.
        plain.publish("plain/topic", b"still here", qos=1)
        plain.wait_messages("plain/topic", 1)

        os.remove(filler)
        time.sleep(0.2)
        fresh = self.connect("alice")
        msg_id = self.send(fresh, "room", body="after space freed")
        self.assert_delivered_once([bob], "room", msg_id, timeout=10)
        broker.assert_alive()

    def test_full_disk_fsync_always(self):
        self.run_full_disk("always")

    def test_full_disk_fsync_everysec(self):
        self.run_full_disk("everysec")


if __name__ == "__main__":
    unittest.main()
