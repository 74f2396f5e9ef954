"""The board, lock and trails in one process (what a suite gets outside mpexec)."""

import threading
import time
import unittest

from support import PACKAGE_DIR  # noqa: F401 -- puts the package in sys.path (conftest does for pytest)

from mpexec.board import LocalBoard, decode_key, encode_key
from mpexec.trail import LocalTrails


class KeyTest(unittest.TestCase):
    def test_plain_keys_stay_as_they_are(self):
        for key in ("a", "db/port", "x.y-z_1", "A" * 256):
            self.assertEqual(encode_key(key), key)

    def test_other_keys_round_trip(self):
        for key in ("some flag", "TrailName__consumers__ü", "a//b", "..", "a/./b", "_mpx.41", ""):
            stored = encode_key(key)
            self.assertRegex(stored, r"^[A-Za-z0-9._/-]{1,256}$")
            self.assertEqual(decode_key(stored), key)

    def test_non_string_keys_are_refused(self):
        with self.assertRaises(TypeError):
            encode_key(3)

    def test_keys_and_names_of_any_length_are_stored_by_their_hash(self):
        # pytest-mp's trails take names of any length (its own tests use 1,000 characters and more).
        long_keys = ["é" * 100, "T" * 257, "a/b" * 1000]
        stored = [encode_key(k) for k in long_keys]
        for s in stored:
            self.assertRegex(s, r"^[A-Za-z0-9._/-]{1,256}$")
        self.assertEqual(len(set(stored)), len(long_keys))
        self.assertEqual(encode_key("T" * 257), stored[1])


class LocalBoardTest(unittest.TestCase):
    def test_values_are_json_copies(self):
        b = LocalBoard()
        value = {"a": (1, 2)}
        b["k"] = value
        got = b["k"]
        self.assertEqual(got, {"a": [1, 2]})
        got["a"].append(3)
        self.assertEqual(b["k"], {"a": [1, 2]})

    def test_mapping_api(self):
        b = LocalBoard()
        self.assertIsNone(b.get("missing"))
        b["x"] = 1
        b.update(y=2)
        self.assertIn("x", b)
        self.assertEqual(sorted(b.items()), [("x", 1), ("y", 2)])
        self.assertEqual(b.pop("x"), 1)
        del b["y"]
        self.assertEqual(len(b), 0)
        with self.assertRaises(KeyError):
            del b["y"]

    def test_values_json_cannot_hold_are_refused(self):
        with self.assertRaisesRegex(TypeError, "JSON"):
            LocalBoard()["k"] = object()

    def test_preconditions_and_versions(self):
        b = LocalBoard()
        v1 = b.put("k", 1, if_absent=True)
        self.assertIsNotNone(v1)
        self.assertIsNone(b.put("k", 2, if_absent=True))
        self.assertIsNone(b.put("k", 2, if_version=v1 + 100))
        v2 = b.put("k", 2, if_version=v1)
        self.assertGreater(v2, v1)
        self.assertEqual(b.setdefault("k", 9), 2)
        self.assertEqual(b.setdefault("new", [1]), [1])

    def test_wait_returns_a_newer_version_or_times_out(self):
        b = LocalBoard()
        threading.Timer(0.05, lambda: b.__setitem__("k", "v")).start()
        self.assertEqual(b.wait("k", timeout=10)[0], "v")
        with self.assertRaises(TimeoutError):
            b.wait("k", after=b.get_with_version("k")[1], timeout=0.05)


class LocalTrailsTest(unittest.TestCase):
    def test_first_and_last_as_pytest_mp_counts_them(self):
        trail = LocalTrails()
        with trail("T") as first:
            self.assertTrue(first)
        with trail("T", "start") as first:
            self.assertFalse(first)
        with trail("T", "finish") as last:
            self.assertFalse(last)
        with trail("T", "finish") as last:
            self.assertTrue(last)
        with trail("T") as first:
            self.assertTrue(first)  # a new round after the last finish

    def test_a_start_that_raised_is_not_a_consumer(self):
        trail = LocalTrails()
        with self.assertRaises(RuntimeError):
            with trail("T"):
                raise RuntimeError("setup failed")
        with trail("T") as first:
            self.assertTrue(first)

    def test_unknown_state_and_finish_without_start(self):
        trail = LocalTrails()
        with self.assertRaisesRegex(ValueError, "start.*finish"):
            with trail("T", "middle"):
                pass
        with self.assertRaisesRegex(RuntimeError, "without a start"):
            with trail("U", "finish"):
                pass

    def test_blocks_do_not_overlap(self):
        trail, inside, overlaps = LocalTrails(), [0], []

        def use():
            with trail("T"):
                inside[0] += 1
                overlaps.append(inside[0])
                time.sleep(0.01)
                inside[0] -= 1
        threads = [threading.Thread(target=use) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(overlaps, [1, 1, 1, 1])


if __name__ == "__main__":
    unittest.main()
