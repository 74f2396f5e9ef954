"""Runs unittest tests by id for mpexec (`python3 -m mpexec.unittest_batch [--top DIR] [--single ID]`):
the ids in $MPEXEC_BATCH_IDS_FILE, in that order, in one process, with unittest's own suite so that each
class's setUpClass and each module's setUpModule run once around their tests; each result goes to mpexec
as the test ends (mpexec.results). With --single, one test, and the exit code says its outcome (0 pass,
77 skip, 1 otherwise)."""

import argparse
import sys
import time
import unittest

from mpexec.results import Reporter, batch_ids

SKIP_EXIT_CODE = 77
_FIXTURES = ("setUpClass", "tearDownClass", "setUpModule", "tearDownModule")


def _fixture_of(test):
    """(method, parent) for unittest's stand-in for a class or module fixture ("setUpClass (m.C)")."""
    description = str(getattr(test, "description", ""))
    method, _, rest = description.partition(" (")
    if method in _FIXTURES and rest.endswith(")"):
        return method, rest[:-1]
    return None


class Result(unittest.TextTestResult):
    """unittest's text result (to stderr, for the unit's log), which also tells mpexec. A test's result
    is sent when the next test starts or the run ends, so that an error in the tearDownClass or
    tearDownModule that follows it is not lost: it turns that test's pass into an error."""

    def __init__(self, reporter, stream, descriptions, verbosity):
        super().__init__(stream, descriptions, verbosity)
        self.reporter = reporter
        self.buffer = True
        self.pending = None  # (id, dict) not yet sent
        self.current = {}
        self.fixture_errors = {}  # parent (module or module.Class) -> (outcome, message)
        self.started_at = 0.0

    def _flush(self):
        if self.pending:
            test_id, r = self.pending
            self.pending = None
            self.reporter.finished(test_id, **r)

    def startTest(self, test):
        self._flush()
        self.current = {"outcome": "pass", "message": "", "note": "", "output": ""}
        self.started_at = time.monotonic()
        self.reporter.started(test.id())
        super().startTest(test)

    def _set(self, outcome, message="", note=""):
        order = {"pass": 0, "skip": 1, "fail": 2, "error": 3}
        if order[outcome] >= order[self.current["outcome"]]:
            self.current.update(outcome=outcome, message=message, note=note)

    def _text(self, err):
        return self._exc_info_to_string(err, None) if err else ""

    def addSuccess(self, test):
        super().addSuccess(test)

    def addFailure(self, test, err):
        self.current["output"] += self._exc_info_to_string(err, test)
        self._set("fail", "{}: {}".format(err[0].__name__, err[1]))
        super().addFailure(test, err)

    def addError(self, test, err):
        fixture = _fixture_of(test)
        if fixture:
            method, parent = fixture
            message = "error in {} ({}): {}: {}".format(method, parent, err[0].__name__, err[1])
            self.fixture_errors[parent] = ("error", message, self._exc_info_to_string(err, test))
            if method.startswith("tearDown") and self.pending:
                test_id, r = self.pending
                if r["outcome"] in ("pass", "skip") and (test_id == parent or test_id.startswith(parent + ".")):
                    r.update(outcome="error", message=message, note="")
                    r["output"] += self._exc_info_to_string(err, test)
        else:
            self.current["output"] += self._exc_info_to_string(err, test)
            self._set("error", "{}: {}".format(err[0].__name__, err[1]))
        super().addError(test, err)

    def addSkip(self, test, reason):
        fixture = _fixture_of(test)
        if fixture:
            self.fixture_errors[fixture[1]] = ("skip", reason, "")
        else:
            self._set("skip", reason)
        super().addSkip(test, reason)

    def addExpectedFailure(self, test, err):
        self._set("pass", "{}: {}".format(err[0].__name__, err[1]), "xfail")
        super().addExpectedFailure(test, err)

    def addUnexpectedSuccess(self, test):
        self._set("fail", "unexpected success (expectedFailure)", "xpass")
        super().addUnexpectedSuccess(test)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self.current["output"] += self._exc_info_to_string(err, test)
            self._set("fail" if failed else "error", "{} {}: {}".format(subtest._subDescription(),
                                                                         err[0].__name__, err[1]))
        super().addSubTest(test, subtest, err)

    def stopTest(self, test):
        captured = ""
        if self._stdout_buffer is not None:
            captured += self._stdout_buffer.getvalue()
        if self._stderr_buffer is not None:
            captured += self._stderr_buffer.getvalue()
        r = dict(self.current)
        if captured:
            r["output"] = (r["output"] + "\n----- captured output -----\n" + captured).lstrip("\n")
        r["duration_s"] = time.monotonic() - self.started_at
        self.pending = (test.id(), r)
        super().stopTest(test)

    def finish(self):
        self._flush()


def load(ids, loader):
    """A flat suite of the ids in order; an id that does not load is an error result, kept by id."""
    suite, failed = unittest.TestSuite(), {}
    for test_id in ids:
        try:
            loaded = loader.loadTestsFromName(test_id)
        except Exception as e:  # noqa: BLE001 -- any import error is the test's result
            failed[test_id] = "cannot load {}: {}".format(test_id, _last_line(e))
            continue
        flat = list(_flatten(loaded))
        broken = [t for t in flat if type(t).__name__ in ("_FailedTest", "ModuleImportFailure")]
        if broken:
            failed[test_id] = "cannot load {}: {}".format(test_id, _first_error(broken[0]))
        elif len(flat) == 1 and flat[0].id() == test_id:
            suite.addTest(flat[0])
        else:
            failed[test_id] = ("{} loads {} tests now, not one; run `mpexec import unittest` again".format(
                test_id, len(flat)))
    return suite, failed


def _flatten(suite):
    if isinstance(suite, unittest.TestSuite):
        for t in suite:
            yield from _flatten(t)
    else:
        yield suite


def _last_line(exc):
    """unittest puts the whole traceback in the message; its last line says what went wrong."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _first_error(failed_test):
    exc = getattr(failed_test, "_exception", None)
    return _last_line(exc) if exc else "import failed"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m mpexec.unittest_batch")
    p.add_argument("--top", default=None, help="the top-level directory of the discovery (put first in sys.path)")
    p.add_argument("--single", default=None, metavar="ID", help="run one test; the exit code is its outcome")
    args = p.parse_args(argv)
    if args.top:
        sys.path.insert(0, args.top)
    ids = [args.single] if args.single else batch_ids()
    if ids is None:
        p.error("no ids: run by mpexec (MPEXEC_BATCH_IDS_FILE) or give --single ID")
    reporter = Reporter(ids) if args.single else Reporter.from_env(ids)
    suite, failed = load(ids, unittest.TestLoader())
    result = Result(reporter, unittest.runner._WritelnDecorator(sys.stderr), True, 2)
    unittest.registerResult(result)
    result.startTestRun()
    try:
        suite(result)
    finally:
        result.stopTestRun()
        result.finish()
    for test_id, message in failed.items():
        reporter.finished(test_id, "error", message=message)
    for test_id in reporter.unreported():
        # Never started: its class or module fixture failed or skipped.
        parents = [p for p in result.fixture_errors if test_id.startswith(p + ".")]
        if parents:
            outcome, message, text = result.fixture_errors[max(parents, key=len)]
            reporter.finished(test_id, outcome, message=message, output=text)
        elif result.shouldStop:
            continue
        else:
            reporter.finished(test_id, "error", message="not run")
    reporter.write_junit()
    result.printErrors()
    outcomes = [reporter.result(i)["outcome"] for i in ids if reporter.reported(i)]
    if args.single:
        r = reporter.result(ids[0]) or {}
        print("mpexec: {}: {}{}".format(ids[0], r.get("outcome", "?").upper(),
                                        " ({})".format(r["note"]) if r.get("note") else "") +
              (": " + r["message"] if r.get("message") else ""), file=sys.stderr)
        return {"pass": 0, "skip": SKIP_EXIT_CODE}.get(r.get("outcome"), 1)
    return 0 if all(o in ("pass", "skip") for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
