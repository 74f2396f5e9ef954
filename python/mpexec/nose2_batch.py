"""Runs nose2 tests by id for mpexec (`python3 -m mpexec.nose2_batch [-s START] [-t TOP] [--single ID]`):
the ids in $MPEXEC_BATCH_IDS_FILE, in one nose2 session with the suite's own configuration and plugins
(but not the mp plugin, mpexec is the one that distributes, nor the JUnit XML one), each result sent to mpexec as with
mpexec.unittest_batch. Used by `mpexec import unittest` when nose2 collects the suite (docs/python.md)."""

import argparse
import re
import sys
import traceback

from mpexec.results import Ledger, Reporter, batch_ids
from mpexec.unittest_batch import _fixture_of, exit_status

_REPEAT = re.compile(r"#[0-9]+$")
MP_PLUGIN = "nose2.plugins.mp"
# Not run by mpexec's nose2 sessions: the mp plugin (mpexec distributes), and the JUnit XML plugin, which
# would write its file into the tree, read-only in a unit (mpexec --junit writes one for the whole run).
EXCLUDED_PLUGINS = [MP_PLUGIN, "nose2.plugins.junitxml"]


def test_id(test):
    """nose2's name of a test (util.test_name), except for a test in a layer (a such spec's), whose name
    nose2 cuts at the first space (`mod.A`, the same for every spec of the module): its whole id."""
    from nose2 import util
    name = util.test_name(test)
    whole = test.id().split("\n", 1)[0] if callable(getattr(test, "id", None)) else name
    return whole if whole != name and _in_layer(test) else name


def _in_layer(test):
    return getattr(type(test), "layer", None) is not None


class Report:
    """A nose2 plugin instance (registered through extraHooks) that keeps mpexec's ledger."""

    def __init__(self, ledger):
        self.ledger = ledger
        self.stopped = False
        self.starts = {}  # id -> how many tests with it started (ids that repeat are ID#1, ID#2, ...)

    def startTest(self, event):
        name = test_id(event.test)
        if not self.ledger.reporter.wanted(name):
            n = self.starts[name] = self.starts.get(name, 0) + 1
            if self.ledger.reporter.wanted("{}#{}".format(name, n)):
                name = "{}#{}".format(name, n)
        self.ledger.start(name)

    def testOutcome(self, event):
        from nose2 import result
        test, err = event.test, event.exc_info
        summary = "{}: {}".format(err[0].__name__, err[1]) if err else ""
        text = "".join(traceback.format_exception(*err)) if err else ""
        fixture = _fixture_of(test)
        if fixture:
            outcome = "skip" if event.outcome == result.SKIP else "error"
            message = event.reason if outcome == "skip" else "error in {} ({}): {}".format(*fixture, summary)
            self.ledger.fixture(fixture[0], fixture[1], outcome, message or "", text)
        elif event.outcome == result.PASS:
            if not event.expected:
                self.ledger.outcome("fail", "unexpected success (expectedFailure)", "xpass")
        elif event.outcome == result.FAIL:
            if event.expected:
                self.ledger.outcome("pass", summary, "xfail")
            else:
                self.ledger.outcome("fail", summary, output=text)
        elif event.outcome == result.ERROR:
            self.ledger.outcome("error", summary, output=text)
        elif event.outcome == result.SKIP:
            self.ledger.outcome("skip", event.reason or "")
        elif event.outcome == getattr(result, "SUBTEST", "subtest") and err:
            failed = issubclass(err[0], AssertionError)
            self.ledger.outcome("fail" if failed else "error", summary, output=text)

    def stopTest(self, event):
        self.ledger.stop()

    def stopTestRun(self, event):
        self.stopped = bool(getattr(event.result, "shouldStop", False))


def names(ids):
    """What to give nose2 for `ids`: each id, except that two kinds of tests are run through their module,
    once, and the report picks the ids it was given: a test of a such spec (its id names the spec's
    description, `mod.A calculator.test 0000: should add`, which no dotted name loads; the layers plugin
    runs the module's layers around its tests), and one of the tests of a load_tests that share an id."""
    out = []
    for test_id in ids:
        name = test_id
        if _REPEAT.search(test_id):
            # ID#N: tests that share an id (module.Class.method) come from the module's load_tests, which
            # only running the module calls; no name loads the Nth.
            name = _REPEAT.sub("", test_id).rsplit(".", 2)[0]
        elif any(c.isspace() for c in test_id):
            name = test_id.split(None, 1)[0].rpartition(".")[0] or test_id
        if name not in out:
            out.append(name)
    return out


def run(start, top, ids, ledger, extra=()):
    """One nose2 session over `ids`; returns the Report plugin."""
    from nose2.main import PluggableTestProgram
    report = Report(ledger)
    argv = ["nose2"] + (["-s", start] if start else []) + (["-t", top] if top else []) + list(extra) + names(ids)
    PluggableTestProgram(
        module=None, argv=argv, exit=False, excludePlugins=EXCLUDED_PLUGINS,
        extraHooks=[(h, report) for h in ("startTest", "testOutcome", "stopTest", "stopTestRun")])
    return report


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m mpexec.nose2_batch")
    p.add_argument("-s", "--start-dir", dest="start", default=None,
                   help="as nose2's (default: the configuration's start-dir, else .)")
    p.add_argument("-t", "--top-level-directory", dest="top", default=None)
    p.add_argument("--single", default=None, metavar="ID", help="run one test; the exit code is its outcome")
    args = p.parse_args(argv)
    ids = [args.single] if args.single else batch_ids()
    if ids is None:
        p.error("no ids: run by mpexec (MPEXEC_BATCH_IDS_FILE) or give --single ID")
    reporter = Reporter(ids) if args.single else Reporter.from_env(ids)
    ledger = Ledger(reporter)
    report = None
    try:
        report = run(args.start, args.top, ids, ledger)
    finally:
        ledger.close({}, bool(report and report.stopped))
    return exit_status(reporter, ids, args.single)


if __name__ == "__main__":
    sys.exit(main())
