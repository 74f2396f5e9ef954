"""Runs unittest tests by id for mpexec (`python3 -m mpexec.unittest_batch [--top DIR] [-p PATTERN] [--single ID]`):
the ids in $MPEXEC_BATCH_IDS_FILE, in that order, in one process, with unittest's own suite so that each
class's setUpClass and each module's setUpModule run once around their tests; each result goes to mpexec
as the test ends (mpexec.results). With --single, one test, and the exit code says its outcome (0 pass,
77 skip, 1 otherwise)."""

import argparse
import importlib
import re
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

    def __init__(self, ledger, stream, descriptions, verbosity, names=None):
        super().__init__(stream, descriptions, verbosity)
        self.ledger = ledger
        self.names = names or {}  # id(test) -> its name in the manifest, where that is not test.id()
        self.buffer = True

    def startTest(self, test):
        self.ledger.start(self.names.get(id(test), test.id()))
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


_REPEAT = re.compile(r"(.+)#([0-9]+)")


def _module_with_load_tests(test_id):
    """The module of `test_id` (its longest prefix that imports) when it has load_tests, else None."""
    parts = test_id.split(".")
    for i in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:i])
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # not a module: a class or a test of the one above
            return None
        except Exception:  # noqa: BLE001 -- loading by name reports the module's import error
            return None
        return module if callable(getattr(module, "load_tests", None)) else None
    return None


def load(ids, loader, pattern=None):
    """A flat suite of the ids in order, and {id(test): name} for the tests whose name is not their id();
    an id that does not load is an error result, kept by id. A test of a module with load_tests is found in
    what its load_tests returns (as discovery found it, with `pattern`): the Nth with its id for ID#N."""
    suite, failed, names, by_module = unittest.TestSuite(), {}, {}, {}
    for test_id in ids:
        repeat = _REPEAT.fullmatch(test_id)
        base, nth = (repeat.group(1), int(repeat.group(2))) if repeat else (test_id, 1)
        module = _module_with_load_tests(base)
        if module is not None:
            if module.__name__ not in by_module:
                index = {}
                for t in _flatten(loader.loadTestsFromModule(module, pattern=pattern)):
                    index.setdefault(t.id(), []).append(t)
                by_module[module.__name__] = index
            found = by_module[module.__name__].get(base, [])
            if len(found) >= nth:
                suite.addTest(found[nth - 1])
                names[id(found[nth - 1])] = test_id
            else:
                failed[test_id] = ("{}'s load_tests gives {} test{} named {} now; run `mpexec import unittest` "
                                   "again".format(module.__name__, len(found), "" if len(found) == 1 else "s", base))
            continue
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
    return suite, failed, names


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
    p.add_argument("-p", "--pattern", default="test*.py",
                   help="the discovery's pattern, which a module's load_tests is given (test*.py)")
    p.add_argument("--single", default=None, metavar="ID", help="run one test; the exit code is its outcome")
    args = p.parse_args(argv)
    if args.top:
        sys.path.insert(0, args.top)
    ids = [args.single] if args.single else batch_ids()
    if ids is None:
        p.error("no ids: run by mpexec (MPEXEC_BATCH_IDS_FILE) or give --single ID")
    reporter = Reporter(ids) if args.single else Reporter.from_env(ids)
    ledger = Ledger(reporter)
    suite, failed, names = load(ids, unittest.TestLoader(), args.pattern)
    result = Result(ledger, unittest.runner._WritelnDecorator(sys.stderr), True, 2, names)
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
