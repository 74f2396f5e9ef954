"""Runs unittest tests by id for mpexec (`python3 -m mpexec.unittest_batch [--top DIR] [--single ID]`):
the ids in $MPEXEC_BATCH_IDS_FILE, in that order, in one process, with unittest's own suite so that each
class's setUpClass and each module's setUpModule run once around their tests; each result goes to mpexec
as the test ends (mpexec.results). With --single, one test, and the exit code says its outcome (0 pass,
77 skip, 1 otherwise)."""

import argparse
import sys
import unittest

from mpexec.results import Ledger, Reporter, batch_ids

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
    """unittest's text result (to stderr, for the unit's log), which also keeps mpexec's ledger."""

    def __init__(self, ledger, stream, descriptions, verbosity):
        super().__init__(stream, descriptions, verbosity)
        self.ledger = ledger
        self.buffer = True

    def startTest(self, test):
        self.ledger.start(test.id())
        super().startTest(test)

    def _summary(self, err):
        return "{}: {}".format(err[0].__name__, err[1])

    def addFailure(self, test, err):
        self.ledger.outcome("fail", self._summary(err), output=self._exc_info_to_string(err, test))
        super().addFailure(test, err)

    def addError(self, test, err):
        fixture = _fixture_of(test)
        text = self._exc_info_to_string(err, test)
        if fixture:
            method, parent = fixture
            self.ledger.fixture(method, parent, "error",
                                "error in {} ({}): {}".format(method, parent, self._summary(err)), text)
        else:
            self.ledger.outcome("error", self._summary(err), output=text)
        super().addError(test, err)

    def addSkip(self, test, reason):
        fixture = _fixture_of(test)
        if fixture:
            self.ledger.fixture(fixture[0], fixture[1], "skip", reason)
        else:
            self.ledger.outcome("skip", reason)
        super().addSkip(test, reason)

    def addExpectedFailure(self, test, err):
        self.ledger.outcome("pass", self._summary(err), "xfail")
        super().addExpectedFailure(test, err)

    def addUnexpectedSuccess(self, test):
        self.ledger.outcome("fail", "unexpected success (expectedFailure)", "xpass")
        super().addUnexpectedSuccess(test)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self.ledger.outcome("fail" if failed else "error",
                                "{} {}".format(subtest._subDescription(), self._summary(err)),
                                output=self._exc_info_to_string(err, test))
        super().addSubTest(test, subtest, err)

    def stopTest(self, test):
        captured = ""
        for buffer in (self._stdout_buffer, self._stderr_buffer):
            if buffer is not None:
                captured += buffer.getvalue()
        self.ledger.stop(captured)
        super().stopTest(test)


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
    ledger = Ledger(reporter)
    suite, failed = load(ids, unittest.TestLoader())
    result = Result(ledger, unittest.runner._WritelnDecorator(sys.stderr), True, 2)
    unittest.registerResult(result)
    result.startTestRun()
    try:
        suite(result)
    finally:
        result.stopTestRun()
        ledger.close(failed, result.shouldStop)
    result.printErrors()
    return exit_status(reporter, ids, args.single)


def exit_status(reporter, ids, single):
    """0 when every test passed or skipped, 1 otherwise; for one test, 77 when it skipped (and a line
    that says its outcome)."""
    outcomes = [reporter.result(i)["outcome"] for i in ids if reporter.reported(i)]
    if single:
        r = reporter.result(ids[0]) or {}
        print("mpexec: {}: {}{}".format(ids[0], r.get("outcome", "?").upper(),
                                        " ({})".format(r["note"]) if r.get("note") else "") +
              (": " + r["message"] if r.get("message") else ""), file=sys.stderr)
        return {"pass": 0, "skip": SKIP_EXIT_CODE}.get(r.get("outcome"), 1)
    return 0 if all(o in ("pass", "skip") for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
