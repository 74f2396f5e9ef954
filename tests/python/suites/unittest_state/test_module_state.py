import os
import unittest

_state = {}


def setUpModule():
    _state["pid"] = os.getpid()
    _state["order"] = []


def tearDownModule():
    _state.clear()


class First(unittest.TestCase):
    def test_a(self):
        _state["order"].append("First.test_a")


class Second(unittest.TestCase):
    def test_b(self):
        self.assertEqual(_state["order"], ["First.test_a"])
        self.assertEqual(_state["pid"], os.getpid())
