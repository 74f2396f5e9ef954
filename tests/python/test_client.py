"""The sync client's HTTP on a plain socket: against a scripted server that answers as the service does (and as
it may: closing a kept connection, an answer in pieces, HTTP/1.0), what is sent, how often, and what is read."""

import json
import os
import shutil
import socket
import tempfile
import threading
import unittest

import support  # noqa: F401 -- puts the package in sys.path

from mpexec.client import Client, SyncError

TOKEN = "0123456789abcdef0123456789abcdef"


def read_request(conn, buf=b""):
    """(head lines, body, what was read beyond it) of one request, or None at the end of the connection."""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(65536)
    return lines, rest[:length], rest[length:]


def answer(status=200, body=None, version="HTTP/1.1", headers=()):
    data = json.dumps({"ok": True} if body is None else body).encode()
    head = ["{} {} X".format(version, status), "Content-Type: application/json",
            "Content-Length: {}".format(len(data)), *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


class Scripted:
    """A Unix socket server: the n-th connection is served by script[n](conn, requests); every request read is
    appended to `requests` as (connection number, head lines, body)."""

    def __init__(self, test, script):
        self.dir = tempfile.mkdtemp(prefix="mpexec-client-")
        test.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "sync.sock")
        self.requests, self.script = [], list(script)
        self.mutex = threading.Lock()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        test.addCleanup(self.listener.close)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for n, handler in enumerate(self.script):
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(handler, conn, n), daemon=True).start()

    def _handle(self, handler, conn, n):
        with conn:
            handler(conn, lambda buf=b"": self._read(conn, n, buf))

    def _read(self, conn, n, buf):
        got = read_request(conn, buf)
        if got is not None:
            with self.mutex:
                self.requests.append((n, got[0], got[1]))
        return got

    def client(self, keep_alive):
        return Client(TOKEN, self.path, keep_alive=keep_alive)


def serve(count, *answers_of_each):
    """A handler that reads `count` requests and sends the given answers (the last one repeated)."""
    def handler(conn, read):
        for i in range(count):
            if read() is None:
                return
            conn.sendall(answers_of_each[min(i, len(answers_of_each) - 1)])
    return handler


class ClientTest(unittest.TestCase):
    def test_kept_connection_serves_requests_one_after_another(self):
        server = Scripted(self, [serve(3, answer(), answer(body={"version": 4}), answer(404, {"error": "no"}))])
        c = server.client(keep_alive=True)
        self.assertEqual(c.request("POST", "/v1/results/started", {"id": "t"}), (200, {"ok": True}))
        self.assertEqual(c.request("PUT", "/v1/board/k", {"value": 1}), (200, {"version": 4}))
        with self.assertRaises(SyncError) as e:
            c.request("GET", "/v1/board/k")
        self.assertEqual((e.exception.status, e.exception.body), (404, {"error": "no"}))
        self.assertEqual([n for n, _, _ in server.requests], [0, 0, 0])
        lines, body = server.requests[0][1], server.requests[0][2]
        self.assertEqual(lines[0], "POST /v1/results/started HTTP/1.1")
        self.assertIn("Authorization: Bearer " + TOKEN, lines)
        self.assertIn("Content-Length: {}".format(len(body)), lines)
        self.assertNotIn("Connection: close", lines)
        self.assertEqual(json.loads(body), {"id": "t"})

    def test_without_keep_alive_each_request_has_a_connection_of_its_own(self):
        server = Scripted(self, [serve(1, answer()), serve(1, answer())])
        c = server.client(keep_alive=False)
        c.request("POST", "/v1/results/started", {"id": "t"})
        c.request("GET", "/v1/board")
        self.assertEqual([n for n, _, _ in server.requests], [0, 1])
        self.assertIn("Connection: close", server.requests[0][1])
        self.assertNotIn("Content-Length: 0", server.requests[1][1])  # a GET without a body

    def test_a_kept_connection_the_service_closed_is_opened_again_and_the_request_sent_once_more(self):
        # The service closes a connection that has been idle too long; the client learns it on its next
        # request, which never reached the service, so sending it again on a new connection is safe.
        server = Scripted(self, [serve(1, answer()), serve(2, answer(body={"second": True}))])
        c = server.client(keep_alive=True)
        c.request("POST", "/v1/results/started", {"id": "a"})
        self.assertEqual(c.request("POST", "/v1/results/finished", {"id": "a", "outcome": "pass"}),
                         (200, {"second": True}))
        c.request("POST", "/v1/results/started", {"id": "b"})
        self.assertEqual([(n, json.loads(b)["id"]) for n, _, b in server.requests], [(0, "a"), (1, "a"), (1, "b")])

    def test_connection_close_and_http_1_0_are_honoured(self):
        server = Scripted(self, [serve(1, answer(headers=["Connection: close"])),
                                 serve(1, answer(version="HTTP/1.0")),
                                 serve(2, answer(version="HTTP/1.0", headers=["Connection: keep-alive"]))])
        c = server.client(keep_alive=True)
        for _ in range(4):
            c.request("POST", "/v1/results/started", {"id": "t"})
        self.assertEqual([n for n, _, _ in server.requests], [0, 1, 2, 2])

    def test_an_answer_in_pieces_and_a_large_body_are_read_whole(self):
        big = {"value": "x" * (3 << 20)}

        def pieces(conn, read):
            read()
            data, i = answer(body=big), 0
            while i < len(data):  # the head a few bytes at a time, then the body in 64 KiB pieces
                step = 7 if i < 100 else 1 << 16
                conn.sendall(data[i:i + step])
                i += step
            read()
            conn.sendall(answer())
        server = Scripted(self, [pieces])
        c = server.client(keep_alive=True)
        self.assertEqual(c.request("GET", "/v1/board/big"), (200, big))
        self.assertEqual(c.request("POST", "/v1/results/started", {"id": "t"}), (200, {"ok": True}))

    def test_a_connection_that_ends_inside_an_answer_is_an_error_and_the_request_is_not_sent_again(self):
        def cut(conn, read):
            read()
            conn.sendall(answer())
            read()
            conn.sendall(answer()[:20])
        server = Scripted(self, [cut, serve(1, answer())])
        c = server.client(keep_alive=True)
        c.request("POST", "/v1/results/started", {"id": "t"})
        with self.assertRaisesRegex(SyncError, "inside an answer") as e:
            c.request("POST", "/v1/results/finished", {"id": "t", "outcome": "pass"})
        self.assertEqual(e.exception.status, 0)
        c.request("POST", "/v1/results/started", {"id": "u"})
        self.assertEqual([(n, json.loads(b)["id"]) for n, _, b in server.requests], [(0, "t"), (0, "t"), (1, "u")])

    def test_no_answer_on_a_new_connection_is_an_error_sent_once(self):
        def silent(conn, read):
            read()
        server = Scripted(self, [silent, serve(1, answer())])
        c = server.client(keep_alive=True)
        with self.assertRaisesRegex(SyncError, "closed before an answer") as e:
            c.request("POST", "/v1/results/finished", {"id": "t", "outcome": "pass"})
        self.assertEqual(e.exception.status, 0)
        c.request("POST", "/v1/results/started", {"id": "u"})  # the next request opens a new connection
        self.assertEqual([(n, json.loads(b)["id"]) for n, _, b in server.requests], [(0, "t"), (1, "u")])

    def test_nothing_listening_is_an_error_that_names_the_socket(self):
        c = Client(TOKEN, os.path.join(tempfile.gettempdir(), "mpexec-no-such-dir", "sync.sock"), keep_alive=True)
        with self.assertRaisesRegex(SyncError, "cannot reach .*mpexec-no-such-dir/sync.sock") as e:
            c.request("GET", "/v1/board")
        self.assertEqual(e.exception.status, 0)

    def test_line_breaks_in_a_path_are_refused_before_sending(self):
        server = Scripted(self, [serve(1, answer())])
        with self.assertRaisesRegex(SyncError, "line break"):
            server.client(keep_alive=True).request("GET", "/v1/board/a\r\nX-Evil: 1")
        self.assertEqual(server.requests, [])

    def test_a_forked_child_does_not_use_its_parents_kept_connection(self):
        server = Scripted(self, [serve(2, answer()), serve(1, answer())])
        c = server.client(keep_alive=True)
        c.request("POST", "/v1/results/started", {"id": "parent"})
        pid = os.fork()
        if pid == 0:
            try:
                c.request("POST", "/v1/results/started", {"id": "child"})
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        c.request("POST", "/v1/results/started", {"id": "parent"})
        self.assertEqual(sorted((n, json.loads(b)["id"]) for n, _, b in server.requests),
                         [(0, "parent"), (0, "parent"), (1, "child")])


if __name__ == "__main__":
    unittest.main()
