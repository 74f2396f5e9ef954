"""`mpexec import pytest [OPTIONS] [--] [PYTEST ARGS...]`: collects with pytest and this package's plugin,
and writes a manifest to stdout (docs/python.md). Run by `mpexec import pytest`, which chooses the
interpreter; `python3 -m mpexec.import_pytest` does the same."""

import argparse
import io
import os
import shutil
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout

from mpexec import manifest
from mpexec.groups import GroupError, assign_groups

# pytest-mp's own scheduler out of the way (first, so that the plugin sees it blocked), the plugin that
# reports results (loaded by name, so an installed copy found by its entry point is the same plugin; in a
# unit it moves pytest's cache out of the read-only tree), and no pytest-xdist looponfail (`-f` would rerun
# a unit's tests forever; its module imports execnet, a twentieth of a unit's start).
PLUGIN_ARGS = ["-p", "no:pytest-mp", "-p", "mpexec.pytest_plugin", "-p", "no:xdist.looponfail"]


class Collector:
    def __init__(self):
        self.items = []
        self.errors = []  # (nodeid, text)
        self.group_error = None

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append((report.nodeid, report.longreprtext))

    def pytest_collection_finish(self, session):
        import pytest
        try:
            assigned = assign_groups(session.items)
        except GroupError as e:
            self.group_error = str(e)
            return
        for item, group, strategy in assigned:
            module = item.nodeid.split("::", 1)[0]
            klass = item.getparent(pytest.Class)
            self.items.append(manifest.Collected(item.nodeid, module, klass.nodeid if klass else None, group, strategy))
        self.rootdir = str(session.config.rootpath)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="mpexec import pytest",
        description="Collect a pytest suite and write an mpexec manifest to stdout. Options of this importer "
                    "come first; everything after them (or after --) is passed to pytest as given.")
    p.add_argument("--group-by", choices=manifest.GROUP_BY, default="chunks",
                   help="units for tests without mp_group: one per test, class, module, or --chunks runs of "
                        "whole modules (default: chunks)")
    p.add_argument("--chunks", type=int, default=None, metavar="N",
                   help="how many units --group-by chunks makes (default: the share of the CPUs that the "
                        "suite's serial and free groups leave, docs/python.md)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="defaults.timeout of the manifest (mpexec's default is 60 s per test)")
    ours, rest = [], list(argv)
    takes_value = {"--group-by", "--chunks", "--timeout"}
    while rest:
        a = rest[0]
        if a == "--":
            rest.pop(0)
            break
        name = a.split("=", 1)[0]
        if name in takes_value or a in ("-h", "--help"):
            ours.append(rest.pop(0))
            if name in takes_value and "=" not in a and rest:
                ours.append(rest.pop(0))
            continue
        break
    args = p.parse_args(ours)
    if args.chunks is not None and args.chunks < 1:
        p.error("--chunks must be at least 1")
    return args, rest


def collect(pytest_args):
    """Runs pytest's collection in this process; returns (Collector, exit code, pytest's output)."""
    import pytest
    collector = Collector()
    out = io.StringIO()
    cache = tempfile.mkdtemp(prefix="mpexec-import-cache-")  # pytest's cache, not in the user's tree
    try:
        with redirect_stdout(out), redirect_stderr(out):
            code = pytest.main(["--collect-only", "-qq", "--continue-on-collection-errors", *PLUGIN_ARGS,
                                *pytest_args, "-o", "cache_dir=" + cache], plugins=[collector])
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return collector, int(code), out.getvalue()


@manifest.command("pytest")
def main(argv=None):
    args, pytest_args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import pytest  # noqa: F401
    except ImportError:
        print("mpexec import pytest: {} cannot import pytest (choose another with --python; on Debian: "
              "apt install python3-pytest)".format(sys.executable), file=sys.stderr)
        return 2
    from mpexec.pytest_plugin import SESSION_ID
    collector, code, output = collect(pytest_args)
    if collector.group_error:
        print("mpexec import pytest: mp_group: {}".format(collector.group_error), file=sys.stderr)
        return 2
    if code in (3, 4) or (code == 2 and not collector.errors):  # internal or usage error, interrupted
        sys.stderr.write(output)
        print("mpexec import pytest: pytest's collection failed (exit {})".format(code), file=sys.stderr)
        return 2
    tests = list(collector.items)
    for nodeid, text in collector.errors:
        # A module that fails to import is a test that reproduces the error at run time, so nothing is lost.
        print("mpexec import pytest: warning: cannot collect {}: {}".format(
            nodeid or "(session)", (text.strip().splitlines() or [""])[-1]), file=sys.stderr)
        tests.append(manifest.Collected(nodeid or SESSION_ID, nodeid or SESSION_ID, stand_in=True))
    if not tests:
        tests.append(manifest.Collected(SESSION_ID, SESSION_ID, stand_in=True))
        print("mpexec import pytest: warning: no tests collected; the manifest has one test, {}, which is "
              "ERROR until there are".format(SESSION_ID), file=sys.stderr)
    base = [sys.executable, "-m", "pytest", *PLUGIN_ARGS]
    result = manifest.build(
        tests,
        batch_cmd=lambda: base + ["--continue-on-collection-errors", "--mpexec-batch", *pytest_args],
        group_by=args.group_by, chunk_count=args.chunks, cwd=os.getcwd(),
        env=manifest.package_env(), timeout=args.timeout, prefix="pytest.", preload="pytest")
    return result


if __name__ == "__main__":
    sys.exit(main())
