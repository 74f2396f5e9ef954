"""pytest plugin: pytest-mp's mp_group marker and its mp_message_board, mp_lock, mp_trail, mp_use_mp and
mp_num_processes fixtures, backed by mpexec's sync service under mpexec and by this process otherwise
(docs/python.md); and, for the commands `mpexec import pytest` writes, the selection of one batch's tests
and the report of each test's result (--mpexec-batch), or of one test's (--mpexec-single)."""

import os
import tempfile

import pytest

import mpexec
from mpexec.groups import GroupError, assign_groups
from mpexec.results import Reporter, batch_ids

SESSION_ID = "<collection>"  # the id of the test that stands for a whole collection (no tests, errors)
SKIP_EXIT_CODE = 77  # the manifest's default skip_exit_code


def pytest_addoption(parser, pluginmanager):
    group = parser.getgroup("mpexec")
    group.addoption("--mpexec-batch", action="store_true", default=False,
                    help="run the ids in $MPEXEC_BATCH_IDS_FILE and report each result to mpexec")
    group.addoption("--mpexec-single", metavar="NODEID", default=None,
                    help="run one test; exit 77 when it is skipped (mpexec's SKIP)")
    if not _loads("pytest_mp", "pytest-mp", pluginmanager):
        # pytest-mp's own options and ini keys, accepted so that a suite whose addopts or ini name them still
        # runs without pytest-mp: the tests run in this process (as pytest-mp's --np 0 does); under mpexec,
        # mpexec distributes them.
        mp = parser.getgroup("pytest-mp (accepted by mpexec's plugin; mpexec distributes)")
        mp.addoption("--mp", "--multiprocessing", action="store_true", dest="use_mp", default=None,
                     help="accepted for pytest-mp's suites: use `mpexec import pytest` and mpexec to distribute")
        mp.addoption("--np", "--num-processes", type=int, dest="num_processes", default=None,
                     help="accepted for pytest-mp's suites: the number of processes is `mpexec --np`")
        parser.addini("mp", "pytest-mp's switch (accepted, unused)", type="bool", default=False)
        parser.addini("num_processes", "pytest-mp's process count (accepted, unused)")
        if not _loads("pytest_instafail", "instafail", pluginmanager):
            mp.addoption("--instafail", action="store_true", dest="instafail", default=False,
                         help="accepted for pytest-mp's suites: mpexec shows each failure as it ends")


def _loads(module, name, pluginmanager):
    """Whether the plugin `name` (installed as `module`) will be in this session: installed and not blocked
    (mpexec's commands pass -p no:pytest-mp before -p mpexec.pytest_plugin)."""
    import importlib.util
    if pluginmanager.is_blocked(name) or importlib.util.find_spec(module) is None:
        return False
    return not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") or pluginmanager.has_plugin(name)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line(
        "markers", "mp_group(group, strategy='free'): the test (or class, module) is in the named group, "
                   "run by mpexec with the strategy free, serial, isolated_free or isolated_serial")
    config.addinivalue_line(
        "markers", "mp_group_info(group, strategy): set on each test, as pytest-mp does: its group as settled "
                   "('ungrouped', 'free' without mp_group)")
    ids = None
    if config.getoption("mpexec_single"):
        ids = [config.getoption("mpexec_single")]
    elif config.getoption("mpexec_batch"):
        ids = batch_ids()
        if ids is None:
            raise pytest.UsageError("--mpexec-batch: MPEXEC_BATCH_IDS_FILE is not set (run by mpexec)")
    if ids is not None:
        _run_here(config)
        config.pluginmanager.register(Selection(config, ids), "mpexec-selection")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """In a unit, pytest's cache (--lf, --ff, --sw, the cache fixture) is in the unit's own temporary
    directory: the tree is read-only there, and a cache shared by units would let one's failures select
    another's tests (or, from a cache left in the tree, deselect them). Before pytest_configure, where the
    cache plugin reads cache_dir: the value is put where Config.getini keeps what it has read, as pytest
    has no public way to change an ini value once the command line is parsed."""
    if config.getoption("mpexec_batch") or config.getoption("mpexec_single"):
        read = getattr(config, "_inicache", None)
        if isinstance(read, dict):
            read["cache_dir"] = os.path.join(tempfile.gettempdir(), "mpexec-pytest-cache")


def _run_here(config):
    """A unit runs its tests in its own process: pytest-xdist's -n, --dist and --tx (a suite's addopts, as
    pytest-xdist users have them) are turned off before pytest-xdist's pytest_configure would start workers,
    which would run the unit's tests outside the reports of this process. mpexec is the one that
    distributes; pytest-xdist's fixtures stay (worker_id is "master", as under plain pytest)."""
    option = config.option
    if getattr(option, "dist", "no") != "no" or getattr(option, "tx", None) or getattr(option, "numprocesses", None):
        option.dist, option.tx, option.numprocesses = "no", [], None


# Fixtures (pytest-mp's names and scopes) ----------------------------------------------------------------

@pytest.fixture(scope="session")
def mp_message_board():
    return mpexec.sync().board


@pytest.fixture(scope="session")
def mp_lock():
    return mpexec.sync().lock("mp_lock")


@pytest.fixture(scope="session")
def mp_trail():
    return mpexec.sync().trail


@pytest.fixture(scope="session")
def mp_use_mp():
    return mpexec.sync().remote


@pytest.fixture(scope="session")
def mp_num_processes():
    try:
        return int(os.environ.get("MPEXEC_WORKER_COUNT", "0"))
    except ValueError:
        return 0


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    # pytest-mp checks the groups of every run, with or without --mp: so does this plugin. It also marks each
    # test with mp_group_info, which suites read.
    try:
        assigned = assign_groups(items)
    except GroupError as e:
        raise pytest.UsageError("mp_group: {}".format(e)) from None
    # In a unit, the strategy is the unit's: the test that settled the group may be in a module this
    # process does not collect.
    in_unit = config.pluginmanager.has_plugin("mpexec-selection")
    unit_strategy = os.environ.get("MPEXEC_STRATEGY") if in_unit else None
    for item, group, strategy in assigned:
        if group is None:
            item.add_marker(pytest.mark.mp_group_info.with_args(group="ungrouped", strategy="free"))
        else:
            item.add_marker(pytest.mark.mp_group_info.with_args(group=group, strategy=unit_strategy or strategy))


# One batch's tests ------------------------------------------------------------------------------------

class Selection:
    """Collects only the files that hold the given ids, runs those tests in collection order, and reports
    each one's result: live to mpexec and in $MPEXEC_BATCH_JUNIT (batch), or as the exit code (single)."""

    def __init__(self, config, ids):
        self.config = config
        self.ids = ids
        self.wanted = set(ids)
        self.single = bool(config.getoption("mpexec_single"))
        self.reporter = Reporter.from_env(ids) if not self.single else Reporter(ids)
        self.phases = {}  # nodeid -> [TestReport]
        self.collect_errors = {}  # nodeid of a collector -> its error text
        self.selected = []
        root = config.rootpath
        self.files = set()
        for i in ids:
            path = i.split("::", 1)[0]
            if path and path != SESSION_ID:
                self.files.add(os.path.normpath(os.path.join(str(root), path)))
        self.dirs = set()
        for f in self.files:
            d = os.path.dirname(f)
            while d not in self.dirs and d != os.path.dirname(d):
                self.dirs.add(d)
                d = os.path.dirname(d)
        self.whole = SESSION_ID in self.wanted

    def pytest_ignore_collect(self, collection_path, config):
        if self.whole:
            return None
        path = os.path.normpath(str(collection_path))
        if path in self.files or path in self.dirs or os.path.basename(path) in ("__init__.py", "conftest.py"):
            return None
        if os.path.isdir(path):
            # A directory below a wanted file's directory that holds no wanted file.
            return True if not any(f.startswith(path + os.sep) for f in self.files) else None
        return True

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors[report.nodeid] = report.longreprtext

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        keep = [item for item in items if item.nodeid in self.wanted]
        drop = [item for item in items if item.nodeid not in self.wanted]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
        self.selected = [item.nodeid for item in keep]
        self.collected_count = len(keep) + len(drop)

    def pytest_runtest_logstart(self, nodeid, location):
        if nodeid in self.wanted:
            self.phases[nodeid] = []
            self.reporter.started(nodeid)

    def pytest_runtest_logreport(self, report):
        if report.nodeid in self.wanted:
            self.phases.setdefault(report.nodeid, []).append(report)

    def pytest_runtest_logfinish(self, nodeid, location):
        if nodeid in self.wanted:
            self.reporter.finished(nodeid, **outcome_of(self.phases.get(nodeid, [])))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        stopped = bool(session.shouldstop or session.shouldfail)
        errors = "\n".join("{}\n{}".format(k or "(session)", v) for k, v in self.collect_errors.items())
        for test_id in self.reporter.unreported():
            if test_id == SESSION_ID:
                self._report_session(test_id, errors)
            elif test_id in self.collect_errors or test_id.split("::", 1)[0] in self.collect_errors:
                self.reporter.finished(test_id, "error", message=_error_line(
                    self.collect_errors.get(test_id) or self.collect_errors[test_id.split("::", 1)[0]]),
                    output=errors)
            elif test_id in self.selected and stopped:
                continue  # pytest stopped (-x, --maxfail): mpexec reports it NOT_RUN
            elif "::" not in test_id:
                self.reporter.finished(test_id, "error", message="{} collects without an error now; run "
                                       "`mpexec import pytest` again to import its tests".format(test_id))
            else:
                self.reporter.finished(test_id, "error", output=errors, message=(
                    "pytest did not collect {} (removed or renamed since `mpexec import pytest`?)".format(test_id)
                    if not errors else "not collected: " + _error_line(errors)))
        self.reporter.write_junit()
        if self.single:
            self._exit_status(session)

    def _report_session(self, test_id, errors):
        if errors:
            self.reporter.finished(test_id, "error", message=_error_line(errors), output=errors)
        elif not getattr(self, "collected_count", 0):
            self.reporter.finished(test_id, "error", message="no tests collected ({})".format(
                " ".join(["pytest"] + _user_args(self.config.invocation_params.args))))
        else:
            self.reporter.finished(test_id, "error", message="{} tests are collected now; run `mpexec import "
                                   "pytest` again to import them".format(self.collected_count))

    def _exit_status(self, session):
        test_id = self.ids[0]
        r = self.reporter.result(test_id)
        if r is None:
            return
        word = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP", "error": "ERROR"}[r["outcome"]]
        if r.get("note"):
            word += " ({})".format(r["note"])
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        line = "mpexec: {}: {}{}".format(test_id, word, ": " + r["message"] if r.get("message") else "")
        if terminal:
            terminal.write_line(line)
        else:
            print(line)
        if r["outcome"] == "skip":
            session.exitstatus = SKIP_EXIT_CODE
        elif r["outcome"] == "pass":
            session.exitstatus = 0
        else:
            session.exitstatus = 1


# What the commands of `mpexec import pytest` put before the user's pytest arguments (import_pytest).
_OUR_PLUGINS = ("no:pytest-mp", "mpexec.pytest_plugin", "no:cacheprovider", "no:xdist.looponfail")
_OUR_FLAGS = ("--continue-on-collection-errors", "--mpexec-batch")


def _user_args(args):
    """The pytest arguments a user gave `mpexec import pytest`: `args` without what its commands add."""
    args, i = list(args), 0
    while i < len(args):
        if args[i] == "-p" and i + 1 < len(args) and args[i + 1] in _OUR_PLUGINS:
            i += 2
        elif args[i] == "--mpexec-single" and i + 1 < len(args):
            i += 2
        elif args[i] in _OUR_FLAGS:
            i += 1
        else:
            break
    return args[i:]


def _error_line(text):
    """What went wrong in a collection error: pytest's last `E   ` line, else its first line."""
    marked = [line[1:].strip() for line in (text or "").splitlines() if line.startswith("E ")]
    return marked[-1] if marked else _first_line(text)


def _first_line(text):
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _skip_reason(report):
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    return _first_line(str(longrepr))


def _failure_message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return crash.message
    return _first_line(report.longreprtext)


def outcome_of(reports):
    """The result of one test from its setup, call and teardown reports: keyword arguments for
    Reporter.finished. Setup failed: error. Skipped: skip with the reason. xfail: pass, note xfail. A
    non-strict xpass: pass, note xpass; a strict one: fail, note xpass. A failed teardown after a pass:
    error."""
    result = {"outcome": "pass", "message": "", "note": ""}
    duration = 0.0
    output = []
    for r in reports:
        duration += getattr(r, "duration", 0.0) or 0.0
        if r.failed or (r.skipped and r.when != "teardown"):
            if r.longreprtext and not r.skipped:
                output.append(r.longreprtext)
        wasxfail = getattr(r, "wasxfail", None)
        if r.when == "setup":
            if r.failed:
                result = {"outcome": "error", "message": "error in setup: " + _failure_message(r), "note": ""}
            elif r.skipped:
                result = ({"outcome": "pass", "message": wasxfail or "", "note": "xfail"} if wasxfail is not None
                          else {"outcome": "skip", "message": _skip_reason(r), "note": ""})
        elif r.when == "call":
            if r.failed:
                text = str(r.longrepr) if isinstance(r.longrepr, str) else ""
                if text.startswith("[XPASS(strict)]"):
                    result = {"outcome": "fail", "message": text, "note": "xpass"}
                else:
                    result = {"outcome": "fail", "message": _failure_message(r), "note": ""}
            elif r.skipped:
                result = ({"outcome": "pass", "message": wasxfail or "", "note": "xfail"} if wasxfail is not None
                          else {"outcome": "skip", "message": _skip_reason(r), "note": ""})
            elif wasxfail is not None:
                result = {"outcome": "pass", "message": wasxfail or "", "note": "xpass"}
        elif r.when == "teardown" and r.failed and result["outcome"] in ("pass", "skip"):
            result = {"outcome": "error", "message": "error in teardown: " + _failure_message(r), "note": ""}
        for title, content in getattr(r, "sections", []):
            if content and title.startswith("Captured"):
                output.append("----- {} -----\n{}".format(title, content))
    # pytest repeats earlier phases' captures in later reports' sections: keep each section once.
    seen, unique = set(), []
    for chunk in output:
        if chunk not in seen:
            seen.add(chunk)
            unique.append(chunk)
    result["duration_s"] = duration
    result["output"] = "\n".join(unique)
    return result

