#!/usr/bin/env python3
"""The pytest benchmark of issue 20: a generated suite of 300 tests of ~1 ms in 30 modules (each module: 4
functions and two classes of 3 tests; in 10 modules the first class is a serial group, so 10 serial groups of
3 tests), run at -j2 by plain pytest, `pytest -n 2` (pytest-xdist) and mpexec with the sandbox for each
--group-by of `mpexec import pytest`; every runner in the same run, alternating, RUNS runs each. Prints a
Markdown table of medians with their ratio to `pytest -n 2`, and the median user and system CPU of each runner
(the runner and every process it waited for), and checks that every run passed all 300.

Usage: MPEXEC_BIN=build/release/mpexec bench/python_suite.py [--runs N] [--python /usr/bin/python3]
         [--group-by MODE]... [--mpexec LABEL=PATH]...
MODE is test, class, module or chunks (the importer's default chunk count), or chunks=K (--chunks K).
--mpexec runs every MODE with each of several mpexec builds (old beside new), each importing with the Python
package of its own tree (../python or ../../python from the binary, as mpexec itself finds it).
(a benchmark, not a test: the machine is shared, so read the ratios, not the seconds)."""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.join(os.path.dirname(HERE), "python")


def package_of(mpexec):
    """The Python package beside an mpexec build, as `mpexec import` finds it (build/mpexec, build/MODE/mpexec)."""
    d = os.path.dirname(mpexec)
    for candidate in (os.path.join(d, "..", "python"), os.path.join(d, "..", "..", "python")):
        if os.path.isfile(os.path.join(candidate, "mpexec", "__init__.py")):
            return os.path.normpath(candidate)
    sys.exit("python_suite.py: no python/mpexec beside {}".format(mpexec))
MODULES, SERIAL_GROUPS = 30, 10


def generate(root):
    for m in range(MODULES):
        lines = ["import time", "import pytest", ""]
        for f in range(4):
            lines += ["def test_f{}():".format(f), "    time.sleep(0.001)", ""]
        for c in ("A", "B"):
            if c == "A" and m < SERIAL_GROUPS:
                lines.append("@pytest.mark.mp_group('serial{}', 'serial')".format(m))
            lines.append("class Test{}:".format(c))
            for t in range(3):
                lines += ["    def test_{}(self):".format(t), "        time.sleep(0.001)", ""]
        with open(os.path.join(root, "test_m{:02d}.py".format(m)), "w") as f:
            f.write("\n".join(lines))
    return MODULES * 10


def timed(cmd, cwd, env):
    """Wall seconds, (user, system) CPU seconds of the command and every process it waited for, and the run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime), proc


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "5")))
    p.add_argument("--python", default="/usr/bin/python3")
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--group-by", action="append", default=None,
                   help="the --group-by values to measure: test, class, module, chunks, chunks=K "
                        "(default: test, class, module, chunks)")
    p.add_argument("--mpexec", action="append", default=None, metavar="LABEL=PATH",
                   help="an mpexec build to measure (repeatable; default: mpexec=$MPEXEC_BIN)")
    args = p.parse_args()
    builds = []
    for spec in args.mpexec or ["mpexec=" + os.environ.get("MPEXEC_BIN", "build/release/mpexec")]:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = "mpexec", spec
        path = os.path.abspath(path)
        if not os.access(path, os.X_OK):
            sys.exit("python_suite.py: no mpexec at {} (set MPEXEC_BIN or --mpexec)".format(path))
        builds.append((label, path))
    work = tempfile.mkdtemp(prefix="mpexec-pybench-")
    try:
        suite = os.path.join(work, "suite")
        os.mkdir(suite)
        total = generate(suite)
        env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
        env.pop("PYTEST_ADDOPTS", None)
        plugin = ["-p", "mpexec.pytest_plugin", "-p", "no:cacheprovider"]
        runners = [("pytest", [args.python, "-m", "pytest", "-q", *plugin], None, env),
                   ("pytest -n {}".format(args.np), [args.python, "-m", "pytest", "-q", "-n", str(args.np), *plugin],
                    None, env)]
        for label, mpexec in builds:
            build_env = dict(env, PYTHONPATH=package_of(mpexec))
            for mode in args.group_by or ["test", "class", "module", "chunks"]:
                group_by, _, count = mode.partition("=")
                tag = "{}-{}".format(len(runners), mode.replace("=", ""))
                manifest = os.path.join(work, "{}.json".format(tag))
                proc = subprocess.run([mpexec, "import", "pytest", "--python", args.python, "--group-by", group_by,
                                       *(["--chunks", count] if count else [])], cwd=suite, env=build_env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                if proc.returncode != 0:
                    sys.exit("{} import --group-by {} failed: {}".format(label, mode, proc.stderr))
                with open(manifest, "w") as f:
                    f.write(proc.stdout)
                imported = json.loads(proc.stdout)
                serial = {g for g, v in imported.get("groups", {}).items()
                          if v["strategy"] in ("serial", "isolated_serial")}
                # A serial group is one unit; a test of a free group (or of none) is a unit of its own.
                units = len({t["group"] if t.get("group") in serial else t["name"] for t in imported["tests"]})
                report = os.path.join(work, "{}.report.json".format(tag))
                runners.append(("{} --group-by {} ({} units)".format(label, mode, units),
                                [mpexec, "--np", str(args.np), "-q", "--json", report, "--state-dir",
                                 os.path.join(work, "state-" + tag), manifest], report, build_env))
        times = {name: [] for name, _, _, _ in runners}
        cpu = {name: [] for name, _, _, _ in runners}
        failures, warnings = {}, {}
        for _ in range(args.runs):
            for name, cmd, report, run_env in runners:
                seconds, used, proc = timed(cmd, suite, run_env)
                ok = proc.returncode == 0
                if ok and report:
                    with open(report) as f:
                        data = json.load(f)
                    outcomes = [t["outcome"] for t in data["tests"]]
                    ok = outcomes.count("PASS") == total
                    for w in data["run"].get("warnings") or []:
                        warnings.setdefault(name, set()).add(w)
                elif ok:
                    ok = "{} passed".format(total) in proc.stdout
                if not ok:
                    failures[name] = proc.stdout[-600:]
                times[name].append(seconds)
                cpu[name].append(used)
        base = statistics.median(times["pytest -n {}".format(args.np)])
        print("| runner (-j{}, {} tests, {} runs) | median s | vs pytest -n {} | user s | sys s |".format(
            args.np, total, args.runs, args.np))
        print("|---|---:|---:|---:|---:|")
        for name, _, _, _ in runners:
            med = statistics.median(times[name])
            user = statistics.median(u for u, _ in cpu[name])
            system = statistics.median(s for _, s in cpu[name])
            print("| {}{} | {:.2f} | {:.2f}x | {:.2f} | {:.2f} |".format(name, " (FAILED)" if name in failures else "",
                                                                       med, med / base, user, system))
        for name, said in warnings.items():
            print("\n{}: {}".format(name, "; ".join(sorted(said))), file=sys.stderr)
        for name, tail in failures.items():
            print("\n{} failed:\n{}".format(name, tail), file=sys.stderr)
        return 1 if failures else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
