"""The message board as a mapping of JSON values: mpexec's board (docs/sync.md) for a test under mpexec, a
dict in this process otherwise. Values go through JSON both ways, so a suite that runs in-process behaves as
it will under mpexec: what is read is a copy, and a value JSON cannot hold is refused when it is written."""

import hashlib
import json
import re
import threading
import time
from collections.abc import MutableMapping

from .client import SyncError, path_segment

_PLAIN_KEY = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_ESCAPE = "_mpx."
_HASHED = "_mpx.sha256."  # a key too long for the hex escape: its hash ('s' is no hex digit)
_NAME_OF = "_mpx.name."  # beside a hashed key: the key itself, for listings
TRAIL_OPEN = "_mpx.trail."  # a trail whose first start completed and which no last finish closed (trail.py)
_MAX_KEY = 256
_MAX_WAIT = 300  # the service cuts every wait to 300 s


def _encode(value):
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError("board values must be JSON (dict, list, str, int, float, bool, None): {}".format(e)) from None


def encode_key(key):
    """The service accepts [A-Za-z0-9._/-]{1,256}; any other str is stored as _mpx.<hex of its UTF-8>, and
    one whose hex would be longer than that as _mpx.sha256.<hex of its SHA-256> (pytest-mp takes names of
    any length). Trails and locks are named the same way."""
    if not isinstance(key, str):
        raise TypeError("board keys are str, got {}".format(type(key).__name__))
    if (len(key) <= _MAX_KEY and _PLAIN_KEY.fullmatch(key) and not key.startswith(_ESCAPE)
            and not any(part in (".", "..") for part in key.split("/"))):
        return key
    encoded = _ESCAPE + key.encode("utf-8").hex()
    if len(encoded) > _MAX_KEY:
        return _HASHED + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return encoded


def decode_key(stored):
    """The key stored as `stored`; a hashed key stays as it is (Board's listings look its name up)."""
    if stored.startswith(_ESCAPE) and not stored.startswith(_HASHED):
        try:
            return bytes.fromhex(stored[len(_ESCAPE):]).decode("utf-8")
        except ValueError:
            pass
    return stored


class Board(MutableMapping):
    """mpexec's board. Every operation is one request; `board[k] += 1` is a read and a write, as with
    pytest-mp's Manager dict: hold the lock around it, or use put(..., if_version=)."""

    def __init__(self, client):
        self._client = client

    def _path(self, key):
        return "/v1/board/" + path_segment(encode_key(key))

    def __getitem__(self, key):
        status, body = self._client.request("GET", self._path(key), expect=(200, 404))
        if status == 404:
            raise KeyError(key)
        return body["value"]

    def __setitem__(self, key, value):
        self.put(key, value)

    def __delitem__(self, key):
        status, _ = self._client.request("DELETE", self._path(key), expect=(200, 404))
        if status == 404:
            raise KeyError(key)

    def _all(self):
        _, body = self._client.request("GET", "/v1/board")
        names = {_HASHED + k[len(_NAME_OF):]: v["value"] for k, v in body.items() if k.startswith(_NAME_OF)}
        return {names.get(k, decode_key(k)): v["value"] for k, v in body.items()
                if not k.startswith((_NAME_OF, TRAIL_OPEN))}

    def __iter__(self):
        return iter(list(self._all()))

    def __len__(self):
        return len(self._all())

    def __contains__(self, key):
        status, _ = self._client.request("GET", self._path(key), expect=(200, 404))
        return status == 200

    def copy(self):
        return self._all()

    def items(self):
        return self._all().items()

    def values(self):
        return self._all().values()

    def keys(self):
        return self._all().keys()

    def setdefault(self, key, default=None):
        """Atomic: the first writer's value wins and every caller gets it."""
        while True:
            if self.put(key, default, if_absent=True) is not None:
                return json.loads(_encode(default))
            try:
                return self[key]
            except KeyError:
                continue  # deleted in between: try again

    def put(self, key, value, if_version=None, if_absent=False):
        """Writes `value`; returns its version, or None when the precondition failed."""
        body = {"value": json.loads(_encode(value))}
        stored = encode_key(key)
        if stored.startswith(_HASHED):  # its name first, so that a listing that sees the key can name it
            self._client.request("PUT", "/v1/board/" + _NAME_OF + stored[len(_HASHED):],
                                 {"value": key, "if_absent": True}, expect=(200, 409))
        if if_version is not None:
            body["if_version"] = if_version
        if if_absent:
            body["if_absent"] = True
        status, answer = self._client.request("PUT", self._path(key), body, expect=(200, 409))
        return answer.get("version") if status == 200 else None

    def get_with_version(self, key):
        """(value, version), or KeyError."""
        status, body = self._client.request("GET", self._path(key), expect=(200, 404))
        if status == 404:
            raise KeyError(key)
        return body["value"], body["version"]

    def wait(self, key, after=0, timeout=None):
        """Waits until `key` exists with a version greater than `after`; returns (value, version).
        TimeoutError after `timeout` seconds (None: as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _MAX_WAIT if deadline is None else max(0.0, min(_MAX_WAIT, deadline - time.monotonic()))
            status, body = self._client.request(
                "GET", "{}?after={}&wait={:.3f}".format(self._path(key), int(after), left), wait=left,
                expect=(200, 408))
            if status == 200:
                return body["value"], body["version"]
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("board key {!r}: no version after {} within {} s".format(key, after, timeout))


class LocalBoard(MutableMapping):
    """The same mapping in this process only, for a suite run without mpexec."""

    def __init__(self):
        self._data = {}  # key -> (JSON text, version)
        self._version = 0
        self._cond = threading.Condition()

    def __getitem__(self, key):
        encode_key(key)
        with self._cond:
            text, _ = self._data[key]
        return json.loads(text)

    def __setitem__(self, key, value):
        self.put(key, value)

    def __delitem__(self, key):
        with self._cond:
            del self._data[key]

    def __iter__(self):
        with self._cond:
            return iter(list(self._data))

    def __len__(self):
        with self._cond:
            return len(self._data)

    def copy(self):
        with self._cond:
            return {k: json.loads(t) for k, (t, _) in self._data.items()}

    def setdefault(self, key, default=None):
        with self._cond:
            if key not in self._data:
                self.put(key, default)
            return self[key]

    def put(self, key, value, if_version=None, if_absent=False):
        encode_key(key)
        text = _encode(value)
        with self._cond:
            current = self._data.get(key)
            if if_absent and current is not None:
                return None
            if if_version is not None and (current is None or current[1] != if_version):
                return None
            self._version += 1
            self._data[key] = (text, self._version)
            self._cond.notify_all()
            return self._version

    def get_with_version(self, key):
        with self._cond:
            text, version = self._data[key]
        return json.loads(text), version

    def wait(self, key, after=0, timeout=None):
        with self._cond:
            ok = self._cond.wait_for(lambda: key in self._data and self._data[key][1] > after, timeout)
            if not ok:
                raise TimeoutError("board key {!r}: no version after {} within {} s".format(key, after, timeout))
            text, version = self._data[key]
        return json.loads(text), version


__all__ = ["Board", "LocalBoard", "SyncError", "encode_key", "decode_key"]
