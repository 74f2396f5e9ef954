"""mpexec's Python side (docs/python.md): the sync service's board, locks and trails for tests, a pytest
plugin with pytest-mp's marker and fixtures, and the runners and importers behind `mpexec import pytest`
and `mpexec import unittest`. Standard library only."""

import os
import threading

__version__ = "0.1.0"

_shared = None
_shared_pid = None
_shared_mutex = threading.Lock()


class Sync:
    """The board, a lock factory and the trails, all in mpexec's sync service or all in this process."""

    def __init__(self, remote, board, make_lock, trail):
        self.remote = remote
        self.board = board
        self.lock = make_lock
        self.trail = trail


def sync():
    """This process's Sync: the service's when MPEXEC_SYNC_TOKEN is set (a test run by mpexec), an
    in-process one otherwise. One per process (a fork gets its own)."""
    global _shared, _shared_pid
    with _shared_mutex:
        if _shared is None or _shared_pid != os.getpid():
            _shared = _make()
            _shared_pid = os.getpid()
        return _shared


def _make():
    from .client import Client, in_mpexec
    locks = {}
    mutex = threading.Lock()
    if in_mpexec():
        from .board import Board
        from .lock import Lock
        from .trail import Trails
        client = Client.from_env()
        board, trails, new_lock = Board(client), Trails(client), lambda name: Lock(client, name)
    else:
        from .board import LocalBoard
        from .trail import LocalTrails
        board, trails, new_lock = LocalBoard(), LocalTrails(), lambda name: threading.Lock()

    def make_lock(name):
        with mutex:
            if name not in locks:
                locks[name] = new_lock(name)
            return locks[name]
    return Sync(in_mpexec(), board, make_lock, trails)
