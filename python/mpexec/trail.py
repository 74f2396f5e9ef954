"""Trails as pytest-mp's mp_trail gives them: `with trail(name, 'start') as first:` and
`with trail(name, 'finish') as last:`. A trail counts its consumers: `first` is true for the start that
finds none, `last` for the finish that leaves none. Under mpexec the sync service counts units; this process
counts its own starts on top, so a unit that starts a trail twice (two fixtures) is one consumer there and
finishes it with its second finish, as pytest-mp's per-call count does.

The service drops a unit that ends from the trails it consumes (DESIGN §5), so that the units still there
can see `last`. pytest-mp's processes that end without finishing stay consumers, and suites rely on that
for a setup that runs once per run: every test starts the trail, none finishes it. So a completed first
start leaves a mark on the board, which the `last` finish removes: while it is there, a start is not
`first` even when the service finds no consumer, because the setup it guards was done and not undone."""

import hashlib

import threading
from contextlib import contextmanager

from .board import TRAIL_OPEN, encode_key
from .client import path_segment

_STATES = ("start", "finish")


def _check_state(state):
    if state not in _STATES:
        raise ValueError('mp_trail state must be "start" or "finish": {}'.format(state))


class Trails:
    """mpexec's trails, through the sync service."""

    def __init__(self, client):
        self._client = client
        self._starts = {}  # name -> this process's starts not yet finished
        self._mutex = threading.Lock()

    def _post(self, name, action, body=None):
        path = "/v1/trail/{}/{}".format(path_segment(encode_key(name)), action)
        if action == "done":
            return self._client.request("POST", path, body)[1]
        while True:  # a block held longer than the service's 300 s wait: ask again, as `mpexec sync` does
            status, answer = self._client.request("POST", path + "?wait=300", body, wait=300, expect=(200, 408))
            if status == 200:
                return answer

    @contextmanager
    def __call__(self, name, state="start"):
        _check_state(state)
        with self._mutex:
            held = self._starts.get(name, 0)
            if state == "start" and held:
                self._starts[name] = held + 1
                yield False
                return
            if state == "finish":
                if not held:
                    raise RuntimeError("mp_trail {!r}: finish without a start in this process".format(name))
                if held > 1:
                    self._starts[name] = held - 1
                    yield False
                    return
            # One request at a time per process: the service's block is per unit.
            answer = self._post(name, state)
            flag = bool(answer.get("first" if state == "start" else "last"))
            mark = "/v1/board/" + TRAIL_OPEN + hashlib.sha256(name.encode("utf-8")).hexdigest()
            if state == "start" and flag:  # inside the block: no other start or finish is looking
                flag = self._client.request("GET", mark, expect=(200, 404))[0] == 404
            ok = False
            try:
                yield flag
                ok = True
            finally:
                try:
                    if ok and flag:
                        if state == "start":
                            self._client.request("PUT", mark, {"value": name})
                        else:
                            self._client.request("DELETE", mark, expect=(200, 404))
                finally:
                    # A start whose block raised is not a consumer (docs/sync.md, "A failed start command").
                    self._post(name, "done", None if ok or state == "finish" else {"ok": False})
                if state == "start" and ok:
                    self._starts[name] = 1
                elif state == "finish":
                    self._starts.pop(name, None)


class LocalTrails:
    """The same in one process: pytest-mp's counting, with a lock for the blocks."""

    def __init__(self):
        self._consumers = {}
        self._mutex = threading.Lock()

    @contextmanager
    def __call__(self, name, state="start"):
        _check_state(state)
        with self._mutex:
            count = self._consumers.get(name, 0)
            if state == "start":
                ok = False
                try:
                    yield count == 0
                    ok = True
                finally:
                    if ok:
                        self._consumers[name] = count + 1
            else:
                if not count:
                    raise RuntimeError("mp_trail {!r}: finish without a start".format(name))
                try:
                    yield count == 1
                finally:
                    if count == 1:
                        del self._consumers[name]
                    else:
                        self._consumers[name] = count - 1
