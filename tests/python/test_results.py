"""The reporter's bounds: a result body always fits the sync service's 1 MiB."""

import json
import unittest

import support  # noqa: F401

from mpexec.results import BODY_LIMIT, Reporter, bounded, one_line


class Recording:
    def __init__(self):
        self.bodies = []

    def request(self, method, path, body=None, **kwargs):
        self.bodies.append((path, body))
        return 200, {"ok": True}


class ResultsTest(unittest.TestCase):
    def test_huge_output_is_cut_to_fit_the_body_limit(self):
        client = Recording()
        r = Reporter(["t"], client)
        r.finished("t", "fail", output="\x01" * (3 << 20) + "the end")
        path, body = client.bodies[-1]
        self.assertEqual(path, "/v1/results/finished")
        self.assertLess(len(json.dumps(body).encode("utf-8")), BODY_LIMIT)
        self.assertIn("bytes cut here", body["output"])
        self.assertTrue(body["output"].endswith("the end"))

    def test_first_result_stands_and_unknown_outcomes_are_refused(self):
        client = Recording()
        r = Reporter(["t", "u"], client)
        r.finished("t", "pass")
        r.finished("t", "fail")
        self.assertEqual([b["outcome"] for _, b in client.bodies], ["pass"])
        self.assertEqual(r.unreported(), ["u"])
        with self.assertRaises(ValueError):
            r.finished("u", "passed")

    def test_helpers(self):
        self.assertEqual(bounded("short", 100), "short")
        self.assertEqual(one_line("a\n  b\tc"), "a b c")


if __name__ == "__main__":
    unittest.main()
