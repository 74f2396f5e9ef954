"""Per-test results of a batch process, sent to mpexec as each test ends (the batch protocol: POST
/v1/results/started and /v1/results/finished on the unit's sync socket), and written as JUnit XML to
$MPEXEC_BATCH_JUNIT at the end, so that what was sent survives a lost connection and the rest a lost
process. Outcomes are mpexec's words: pass, fail, skip, error; `note` says xfail or xpass."""

import json
import os
import sys
import time
import xml.etree.ElementTree as ET

from .client import Client, SyncError

# Every sync body is at most 1 MiB (docs/executor.md, "Batch units"); JSON escapes can make the text up to six
# times longer, so `output` is cut until the whole body fits.
BODY_LIMIT = 1 << 20
OUTPUT_LIMIT = 512 << 10
MESSAGE_LIMIT = 2000
OUTCOMES = ("pass", "fail", "skip", "error")


def batch_ids(environ=None):
    """The ids this process was given (MPEXEC_BATCH_IDS_FILE, one per line), or None outside a batch."""
    env = os.environ if environ is None else environ
    path = env.get("MPEXEC_BATCH_IDS_FILE")
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f if line.rstrip("\r\n")]


def bounded(text, limit):
    """At most `limit` bytes of UTF-8: the head and the tail around a line saying how much was cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    half = limit // 2 - 64
    cut = len(data) - 2 * half
    return (data[:half].decode("utf-8", "ignore") + "\n[mpexec: {} bytes cut here]\n".format(cut)
            + data[-half:].decode("utf-8", "ignore"))


def one_line(message):
    message = " ".join((message or "").split())
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT - 3] + "..."


class Reporter:
    """Sends results for the ids of one batch. A failure to reach mpexec is said once on stderr and the
    JUnit file still gets every result."""

    def __init__(self, ids, client=None, junit_path=None):
        self.ids = list(ids)
        self._wanted = set(self.ids)
        self.strays = {}  # results for tests that are not ours (a runner's stand-in for a failed load)
        self._client = client
        self._junit = junit_path
        self._results = {}  # id -> dict, in finishing order
        self._warned = False

    @classmethod
    def from_env(cls, ids):
        client = Client.from_env(keep_alive=True) if os.environ.get("MPEXEC_SYNC_TOKEN") else None
        return cls(ids, client, os.environ.get("MPEXEC_BATCH_JUNIT"))

    def _send(self, path, body):
        if self._client is None:
            return
        # mpexec cuts the process's log at each call for tests without `output`: flush what was said.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            self._client.request("POST", path, body)
        except SyncError as e:
            if not self._warned:
                self._warned = True
                print("mpexec: cannot send a result ({}); the JUnit file keeps them".format(e), file=sys.stderr)

    def started(self, test_id):
        if test_id in self._wanted:
            self._send("/v1/results/started", {"id": test_id})

    def finished(self, test_id, outcome, duration_s=None, message="", output="", note=""):
        if outcome not in OUTCOMES:
            raise ValueError("outcome must be one of {}, got {!r}".format(OUTCOMES, outcome))
        if test_id in self._results or test_id in self.strays:
            return  # the first word on a test stands
        body = {"id": test_id, "outcome": outcome}
        if duration_s is not None:
            body["duration_s"] = round(max(0.0, duration_s), 6)
        if message:
            body["message"] = one_line(message)
        if output:
            limit = OUTPUT_LIMIT
            body["output"] = bounded(output, limit)
            while len(json.dumps(body).encode("utf-8")) > BODY_LIMIT - 4096 and limit > 1024:
                limit //= 2
                body["output"] = bounded(output, limit)
        if note:
            body["note"] = note
        if test_id not in self._wanted:
            self.strays[test_id] = body
            return
        self._results[test_id] = body
        self._send("/v1/results/finished", body)

    def result(self, test_id):
        """The body sent for `test_id`, or None."""
        return self._results.get(test_id)

    def wanted(self, test_id):
        """Whether `test_id` is one of this batch's."""
        return test_id in self._wanted

    def reported(self, test_id):
        return test_id in self._results

    def unreported(self):
        return [i for i in self.ids if i not in self._results]

    def write_junit(self):
        """<testcase classname=C name=N> with C::N (pytest) or C.N (unittest) equal to the id."""
        if not self._junit:
            return
        suite = ET.Element("testsuite", name="mpexec-batch", tests=str(len(self._results)))
        for test_id, r in self._results.items():
            classname, _, name = test_id.rpartition("::" if "::" in test_id else ".")
            if not classname:
                classname, name = "", test_id
            case = ET.SubElement(suite, "testcase", classname=classname, name=name,
                                 time="{:.6f}".format(r.get("duration_s", 0.0)))
            tag = {"fail": "failure", "error": "error", "skip": "skipped"}.get(r["outcome"])
            if tag:
                ET.SubElement(case, tag, message=r.get("message", ""))
            if r.get("output"):
                ET.SubElement(case, "system-out").text = _xml_text(r["output"])
        tmp = self._junit + ".tmp"
        ET.ElementTree(suite).write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, self._junit)


def _xml_text(text):
    # XML 1.0 forbids most control characters; keep the text readable instead of failing the write.
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else "\\x{:02x}".format(ord(c)) for c in text)


_SEVERITY = {"pass": 0, "skip": 1, "fail": 2, "error": 3}


class Ledger:
    """The tests of one unittest-style batch process (unittest, nose2), as the runner's result object sees
    them: a test starts, gathers outcomes (the worst counts: a failed subtest fails the test), stops. Its
    result is sent when the next test starts or the process ends, so that an error in the tearDownClass or
    tearDownModule that follows it is charged to it rather than lost. A fixture that failed or skipped
    before its tests started settles them when the ledger closes."""

    def __init__(self, reporter):
        self.reporter = reporter
        self.current = None  # (id, result dict, start time)
        self.pending = None  # (id, result dict)
        self.fixtures = {}  # parent (module or module.Class) -> (outcome, message, output)

    def start(self, test_id):
        self._flush()
        self.current = (test_id, {"outcome": "pass", "message": "", "note": "", "output": ""}, time.monotonic())
        self.reporter.started(test_id)

    def outcome(self, outcome, message="", note="", output=""):
        if self.current is None:
            return
        r = self.current[1]
        if output:
            r["output"] += output
        if _SEVERITY[outcome] >= _SEVERITY[r["outcome"]]:
            r.update(outcome=outcome, message=message, note=note)

    def stop(self, captured=""):
        if self.current is None:
            return
        test_id, r, started = self.current
        if captured:
            r["output"] = (r["output"] + "\n----- captured output -----\n" + captured).lstrip("\n")
        r["duration_s"] = time.monotonic() - started
        self.pending, self.current = (test_id, r), None

    def fixture(self, method, parent, outcome, message, output=""):
        """setUpClass, setUpModule, tearDownClass or tearDownModule of `parent` failed (or skipped)."""
        self.fixtures[parent] = (outcome, message, output)
        if method.startswith("tearDown") and self.pending and outcome == "error":
            test_id, r = self.pending
            if r["outcome"] in ("pass", "skip") and (test_id == parent or test_id.startswith(parent + ".")):
                r.update(outcome="error", message=message, note="")
                r["output"] += output

    def _flush(self):
        if self.pending:
            test_id, r = self.pending
            self.pending = None
            self.reporter.finished(test_id, **r)

    def close(self, not_loaded, stopped):
        """Sends what is left: `not_loaded` ({id: message}) as errors; a test that never started as its
        fixture's outcome, else (unless the run was stopped, then mpexec says NOT_RUN) as an error."""
        self._flush()
        for test_id, message in not_loaded.items():
            self.reporter.finished(test_id, "error", message=message)
        for test_id in self.reporter.unreported():
            parents = [p for p in self.fixtures if test_id.startswith(p + ".")]
            if parents:
                outcome, message, output = self.fixtures[max(parents, key=len)]
                self.reporter.finished(test_id, outcome, message=message, output=output)
            elif not stopped:
                errors = ["{}: {}".format(k, b.get("message", b["outcome"])) for k, b in self.reporter.strays.items()
                          if b["outcome"] in ("fail", "error")]
                self.reporter.finished(test_id, "error", message="not run" + (" ({})".format("; ".join(errors))
                                                                               if errors else ""))
        self.reporter.write_junit()
