import os

_state = {}


def setUpModule():
    _state["pid"] = os.getpid()


def test_same_process():
    assert _state["pid"] == os.getpid()


def test_again():
    assert _state["pid"] == os.getpid()
