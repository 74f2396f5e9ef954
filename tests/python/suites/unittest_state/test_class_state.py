# State set up once per class or module and shared by its tests: nose2 -N keeps such tests in one process.
import os
import unittest

_module_state = {}


class Counter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.calls = []
        cls.pid = os.getpid()

    @classmethod
    def tearDownClass(cls):
        assert cls.calls == ["first", "second"], cls.calls

    def test_1_first(self):
        self.calls.append("first")

    def test_2_second(self):
        self.assertEqual(self.calls, ["first"])
        self.calls.append("second")
        self.assertEqual(self.pid, os.getpid())


class Independent(unittest.TestCase):
    def test_plain(self):
        self.assertTrue(True)

    @unittest.skip("skipped on purpose")
    def test_skipped(self):
        self.fail("never runs")

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertEqual(1, 2)
