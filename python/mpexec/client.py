"""The connection to mpexec's sync service (docs/sync.md): HTTP/1.1 over the unit's Unix socket, or over
TCP when MPEXEC_SYNC_TCP is set (mpexec --sync-bind), authenticated with the unit's bearer token."""

import http.client
import json
import os
import socket
import time
from urllib.parse import quote

DEFAULT_SOCKET = "/run/mpexec/sync.sock"


class SyncError(Exception):
    """An answer other than the one expected, or no answer. `status` is the HTTP status (0: no answer)."""

    def __init__(self, status, message, body=None):
        super().__init__("sync service: {}{}".format("{} ".format(status) if status else "", message))
        self.status = status
        self.body = body if body is not None else {}


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("mpexec", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def in_mpexec(environ=None):
    """True when this process runs as (part of) an mpexec unit with a sync token."""
    env = os.environ if environ is None else environ
    return bool(env.get("MPEXEC_SYNC_TOKEN"))


class Client:
    """One request per connection, as `mpexec sync` does: the service closes idle connections after 2 s and
    a kept-alive connection would hold one of its threads."""

    def __init__(self, token, socket_path=None, tcp=None):
        if not token:
            raise SyncError(0, "no token (MPEXEC_SYNC_TOKEN is not set: not running under mpexec)")
        self.token = token
        self.socket_path = socket_path or DEFAULT_SOCKET
        self.tcp = None
        if tcp:
            host, sep, port = tcp.rpartition(":")
            if not sep or not port.isdigit():
                raise SyncError(0, "MPEXEC_SYNC_TCP must be HOST:PORT, got {!r}".format(tcp))
            self.tcp = (host.strip("[]"), int(port))

    @classmethod
    def from_env(cls, environ=None):
        env = os.environ if environ is None else environ
        return cls(env.get("MPEXEC_SYNC_TOKEN", ""), env.get("MPEXEC_SYNC_SOCKET"), env.get("MPEXEC_SYNC_TCP"))

    def _connect(self, timeout):
        if self.tcp:
            return http.client.HTTPConnection(self.tcp[0], self.tcp[1], timeout=timeout)
        return _UnixConnection(self.socket_path, timeout)

    def request(self, method, path, body=None, wait=None, expect=(200,)):
        """Sends one request; returns (status, decoded JSON body). A status outside `expect` raises SyncError.
        `wait` is the server-side wait in seconds: the socket's own timeout allows for it."""
        timeout = 30.0 + (wait or 0)
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        waited = 0
        while True:
            conn = self._connect(timeout)
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                status = resp.status
                retry_after = resp.getheader("Retry-After", "")
            except (OSError, http.client.HTTPException) as e:
                where = "{}:{}".format(*self.tcp) if self.tcp else self.socket_path
                raise SyncError(0, "cannot reach {}: {}".format(where, e)) from None
            finally:
                conn.close()
            # A read refused while the service sends large answers (docs/sync.md, "Memory") is asked again
            # after the Retry-After it names, for up to a minute.
            pause = min(int(retry_after), 5) if retry_after.isdigit() else 0
            if method != "GET" or status not in (429, 503) or pause <= 0 or waited >= 60:
                break
            time.sleep(pause)
            waited += pause
        try:
            decoded = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            decoded = {"error": raw.decode("utf-8", "replace")}
        if status not in expect:
            message = decoded.get("error") if isinstance(decoded, dict) else None
            raise SyncError(status, "{} {}: {}".format(method, path, message or raw[:200]), decoded)
        return status, decoded


def path_segment(name):
    """A key or name as a URL path: '/' stays (a/b is one key, docs/sync.md), everything else is quoted."""
    return quote(name, safe="/")
