"""What the tests of the Python package share: where things are, and a stand-in for mpexec's results
endpoints on a Unix socket (the batch protocol) that records what it was sent."""

import atexit
import http.server
import json
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PACKAGE_DIR = os.path.join(ROOT, "python")
if PACKAGE_DIR not in sys.path:
    sys.path.insert(0, PACKAGE_DIR)
SUITES = os.path.join(HERE, "suites")
PYTHON = sys.executable
NOSE2 = subprocess.run([sys.executable, "-c", "import nose2"], stderr=subprocess.DEVNULL).returncode == 0
MPEXEC = os.environ.get("MPEXEC_BIN") or os.path.join(ROOT, "build", "release", "mpexec")


def _package_for_units():
    """The package directory the tests' mpexec units can see: the source tree's, or, when that lies under
    /tmp or /run (a checkout there, hidden by each unit's fresh /tmp), a copy installed under /var/tmp."""
    real = os.path.realpath(PACKAGE_DIR)
    if not any(real == d or real.startswith(d + "/") for d in ("/tmp", "/run")):
        return None
    dest = tempfile.mkdtemp(prefix="mpexec-python-", dir="/var/tmp")
    os.chmod(dest, 0o755)  # mkdtemp's 0700 shuts out units of root, which run as uids of their own
    sources = [os.path.join(PACKAGE_DIR, "mpexec", f) for f in os.listdir(os.path.join(PACKAGE_DIR, "mpexec"))
               if f.endswith(".py")]
    subprocess.run([os.path.join(ROOT, "packaging", "python-install.sh"), "0", dest, *sources], check=True)
    atexit.register(shutil.rmtree, dest, True)
    return dest


UNIT_PACKAGE_DIR = _package_for_units()


def env(**extra):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("MPEXEC_") and k != "MPEXEC_BIN":
            del e[k]
    first = [UNIT_PACKAGE_DIR] if UNIT_PACKAGE_DIR else []
    e["PYTHONPATH"] = os.pathsep.join(first + [PACKAGE_DIR] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    e.update(extra)
    return e


def copy_suite(name, into):
    dest = os.path.join(into, name)
    shutil.copytree(os.path.join(SUITES, name), dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return dest


def run(cmd, cwd, **extra):
    return subprocess.run(cmd, cwd=cwd, env=env(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with server.mutex:
            server.requests.append((self.path, body, self.headers.get("Authorization")))
            status = 200
            if self.headers.get("Authorization") != "Bearer " + server.token:
                status = 401
            elif body.get("id") not in server.ids:
                status = 404
            elif self.path == "/v1/results/finished":
                if body["id"] in server.finished:
                    status = 409
                server.finished[body["id"]] = body
            elif self.path != "/v1/results/started":
                status = 404
        data = json.dumps({"ok": True} if status == 200 else {"error": "status {}".format(status)}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ResultsServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """POST /v1/results/started|finished as the batch protocol describes them."""
    daemon_threads = True

    def __init__(self, ids):
        self.dir = tempfile.mkdtemp(prefix="mpexec-results-")
        self.path = os.path.join(self.dir, "sync.sock")
        self.token = "0123456789abcdef0123456789abcdef"
        self.ids = set(ids)
        self.requests, self.finished = [], {}
        self.mutex = threading.Lock()
        super().__init__(self.path, _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def batch_env(self, ids, work):
        ids_file = os.path.join(work, "ids")
        with open(ids_file, "w", encoding="utf-8") as f:
            f.write("".join(i + "\n" for i in ids))
        return {"MPEXEC_SYNC_SOCKET": self.path, "MPEXEC_SYNC_TOKEN": self.token,
                "MPEXEC_BATCH_IDS_FILE": ids_file, "MPEXEC_BATCH_JUNIT": os.path.join(work, "junit.xml")}

    def close(self):
        self.shutdown()
        self.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)
