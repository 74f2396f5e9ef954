# What nose2 collects beyond unittest's loader, with class and module state: a nose2 -N suite's shapes.
import os
import unittest

from nose2.tools import params

_pids = []


def test_function():
    assert True


def test_generator():
    for i in range(3):
        yield check_small, i


def check_small(i):
    assert i < 3


@params(1, 2)
def test_params(x):
    assert x > 0


class WithState(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pid = os.getpid()
        cls.seen = []

    def test_a(self):
        self.seen.append("a")

    def test_b(self):
        self.assertEqual(self.seen, ["a"])
        self.assertEqual(self.pid, os.getpid())

    @unittest.skip("skipped on purpose")
    def test_skipped(self):
        pass


class TestPlain:
    # nose2's test classes: a plain class named Test* or *Test.
    @classmethod
    def setUpClass(cls):
        cls.ready = True

    def test_ready(self):
        assert self.ready
