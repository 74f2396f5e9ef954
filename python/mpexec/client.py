"""The connection to mpexec's sync service (docs/sync.md): HTTP/1.1 over the unit's Unix socket, or over
TCP when MPEXEC_SYNC_TCP is set (mpexec --sync-bind), authenticated with the unit's bearer token.

The HTTP is spoken here on a plain socket rather than through http.client: http.client brings in ssl and
the email package, about a twelfth of what a batch unit's pytest imports at its start (docs/python.md,
"What a unit costs"), and the service's answers are simple (a status line, Content-Length, a JSON body)."""

import json
import os
import socket
import threading
import time
from urllib.parse import quote

DEFAULT_SOCKET = "/run/mpexec/sync.sock"
_HEAD_LIMIT = 64 << 10  # an answer's head (status line and headers) is a few hundred bytes


class SyncError(Exception):
    """An answer other than the one expected, or no answer. `status` is the HTTP status (0: no answer)."""

    def __init__(self, status, message, body=None):
        super().__init__("sync service: {}{}".format("{} ".format(status) if status else "", message))
        self.status = status
        self.body = body if body is not None else {}


class _Closed(Exception):
    """The connection ended before the first byte of an answer."""


def in_mpexec(environ=None):
    """True when this process runs as (part of) an mpexec unit with a sync token."""
    env = os.environ if environ is None else environ
    return bool(env.get("MPEXEC_SYNC_TOKEN"))


class Client:
    """By default one request per connection, as `mpexec sync` does, so that the threads of a process never
    share one. With `keep_alive`, one connection serves the requests one after another (a batch process's
    reporter, two requests per test), opened again when the service has closed it meanwhile."""

    def __init__(self, token, socket_path=None, tcp=None, keep_alive=False):
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
        self.keep_alive = keep_alive
        self._sock = None  # the kept connection
        self._sock_pid = None  # the process that opened it: a forked child opens its own
        self._mutex = threading.Lock()  # one request at a time on it

    @classmethod
    def from_env(cls, environ=None, keep_alive=False):
        env = os.environ if environ is None else environ
        return cls(env.get("MPEXEC_SYNC_TOKEN", ""), env.get("MPEXEC_SYNC_SOCKET"), env.get("MPEXEC_SYNC_TCP"),
                   keep_alive=keep_alive)

    def _connect(self, timeout):
        if self.tcp:
            return socket.create_connection(self.tcp, timeout=timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self):
        with self._mutex:
            self._drop()

    def _drop(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request(self, method, path, body=None, wait=None, expect=(200,)):
        """Sends one request; returns (status, decoded JSON body). A status outside `expect` raises SyncError.
        `wait` is the server-side wait in seconds: the socket's own timeout allows for it."""
        timeout = 30.0 + (wait or 0)
        data = json.dumps(body).encode("utf-8") if body is not None else b""
        head = ["{} {} HTTP/1.1".format(method, path),
                "Host: " + ("{}:{}".format(*self.tcp) if self.tcp else "mpexec"),
                "Authorization: Bearer " + self.token]
        if body is not None:
            head.append("Content-Type: application/json")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append("Content-Length: {}".format(len(data)))
        if not self.keep_alive:
            head.append("Connection: close")
        if any(c in path + self.token for c in "\r\n"):
            raise SyncError(0, "a line break in the request's path or token: {!r}".format(path))
        request = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + data
        waited = 0
        while True:
            status, headers, raw = self._exchange(request, timeout)
            # A read refused while the service sends large answers (docs/sync.md, "Memory") is asked again
            # after the Retry-After it names, for up to a minute.
            retry_after = headers.get("retry-after", "")
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

    def _exchange(self, message, timeout):
        """(status, headers with lower-case names, body) of one request."""
        try:
            if not self.keep_alive:
                sock = self._connect(timeout)
                try:
                    return _send_and_read(sock, message, False)[:3]
                finally:
                    sock.close()
            with self._mutex:
                return self._exchange_kept(message, timeout)
        except (_Closed, OSError, ValueError) as e:
            where = "{}:{}".format(*self.tcp) if self.tcp else self.socket_path
            reason = "the connection closed before an answer" if isinstance(e, _Closed) else e
            raise SyncError(0, "cannot reach {}: {}".format(where, reason)) from None

    def _exchange_kept(self, message, timeout):
        """On the kept connection. One that the service closed while it was idle (no byte of an answer
        came) is opened again and the request sent once more: the service closes only connections that hold
        no request."""
        if self._sock is not None and self._sock_pid != os.getpid():
            self._sock = None  # the parent's: left to it
        reused = self._sock is not None
        try:
            try:
                if self._sock is None:
                    self._sock, self._sock_pid = self._connect(timeout), os.getpid()
                else:
                    self._sock.settimeout(timeout)
                status, headers, body, keep = _send_and_read(self._sock, message, True)
            except (_Closed, BrokenPipeError, ConnectionResetError):
                self._drop()
                if not reused:
                    raise
                self._sock, self._sock_pid = self._connect(timeout), os.getpid()
                status, headers, body, keep = _send_and_read(self._sock, message, True)
        except BaseException:
            self._drop()
            raise
        if not keep:
            self._drop()
        return status, headers, body


def _send_and_read(sock, message, keep_alive):
    """Sends `message` and reads one answer: (status, headers with lower-case names, body, whether the
    connection stays open for the next request)."""
    sock.sendall(message)
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buf) > _HEAD_LIMIT:
            raise ValueError("an answer's head longer than {} bytes".format(_HEAD_LIMIT))
        chunk = sock.recv(65536)
        if not chunk:
            if not buf:
                raise _Closed()
            raise ValueError("the connection closed inside an answer's head")
        buf += chunk
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError("not an HTTP answer: {!r}".format(lines[0][:100]))
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    body = buf[end + 4:]
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ValueError("Content-Length {!r}".format(length))
        want = int(length)
        chunks, have = [body], len(body)
        while have < want:
            chunk = sock.recv(min(want - have, 1 << 20))
            if not chunk:
                raise ValueError("the connection closed inside an answer's body")
            chunks.append(chunk)
            have += len(chunk)
        body = b"".join(chunks)[:want]
    else:  # no length: the body ends with the connection
        chunks = [body]
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        body = b"".join(chunks)
    connection = headers.get("connection", "").lower()
    keep = (keep_alive and length is not None and connection != "close"
            and (parts[0] != "HTTP/1.0" or connection == "keep-alive"))
    return status, headers, body, keep


def path_segment(name):
    """A key or name as a URL path: '/' stays (a/b is one key, docs/sync.md), everything else is quoted."""
    return quote(name, safe="/")
