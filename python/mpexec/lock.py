"""A named lock of mpexec's sync service as a context manager, with threading.Lock's interface. The service
owns locks per unit, so a thread lock in front keeps the threads of one process out of each other's way."""

import threading
import time

from .board import encode_key
from .client import path_segment

_MAX_WAIT = 300


class Lock:
    def __init__(self, client, name):
        self._client = client
        self.name = name
        self._path = "/v1/lock/" + path_segment(encode_key(name))
        self._local = threading.Lock()

    def acquire(self, blocking=True, timeout=-1):
        """As threading.Lock.acquire: True once held; False when not blocking or after `timeout` seconds."""
        if not blocking:
            timeout = 0
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        if not self._local.acquire(True, -1 if deadline is None else timeout):
            return False
        try:
            while True:
                left = _MAX_WAIT if deadline is None else max(0.0, min(_MAX_WAIT, deadline - time.monotonic()))
                status, _ = self._client.request("POST", "{}/acquire?wait={:.3f}".format(self._path, left),
                                                 wait=left, expect=(200, 408))
                if status == 200:
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    self._local.release()
                    return False
        except BaseException:
            self._local.release()
            raise

    def release(self):
        self._client.request("POST", self._path + "/release")
        self._local.release()

    def locked(self):
        return self._local.locked()

    def __enter__(self):
        self.acquire()
        return True

    def __exit__(self, *exc):
        self.release()
        return False
