"""What `mpexec import pytest` and `mpexec import unittest` share: turning collected tests into an mpexec
manifest (docs/manifest.md), with the batch groups of the batch protocol (docs/python.md)."""

import functools
import hashlib
import json
import os
import re
import signal
import sys

import mpexec

GROUP_BY = ("test", "class", "module", "chunks")
_GROUP_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


class Collected:
    """One collected test: its id (what the runner selects it by), where it lives, its group and strategy
    as the suite declares them (group None: unmarked)."""

    def __init__(self, test_id, module, klass=None, group=None, strategy="free", stand_in=False):
        self.id = test_id
        self.module = module
        self.klass = klass
        self.group = group
        self.strategy = strategy
        self.stand_in = stand_in  # stands for a module that does not import, or for an empty collection


class Names:
    """Group names mpexec accepts ([A-Za-z0-9._-]{1,128}, not . or ..), one per distinct key."""

    def __init__(self):
        self._by_key = {}
        self._used = set()

    def __call__(self, kind, key):
        """The name for `key` (a group of the suite, a module, ...); `kind` keeps kinds apart."""
        if (kind, key) in self._by_key:
            return self._by_key[(kind, key)]
        name = key if _GROUP_NAME.fullmatch(key) and key not in (".", "..") else None
        if name is None:
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")
            if name in ("", ".", ".."):
                name = "group"
            if len(name) > 100 or name != key:
                name = name[:100] + "-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
        base, n = name, 2
        while name in self._used:
            name = "{}-{}".format(base[:120], n)
            n += 1
        self._used.add(name)
        self._by_key[(kind, key)] = name
        return name


def unmarked_key(test, group_by, chunk_of):
    """The batch group an unmarked test joins, or None for a unit of its own. A stand-in for a collection
    is always in a batch, whose process reports it ERROR with the reason (a unit's exit code cannot)."""
    if group_by == "test":
        return "collection" if test.stand_in else None
    if group_by == "module":
        return test.module
    if group_by == "class":
        return test.klass or test.module
    return chunk_of[test.module]


def chunks(tests, count):
    """Modules of unmarked tests in `count` contiguous runs of about the same number of tests:
    {module: chunk name}. Modules stay whole (their module-scoped fixtures run once)."""
    sizes = {}
    for t in tests:
        if t.group is None:
            sizes[t.module] = sizes.get(t.module, 0) + 1
    total = sum(sizes.values())
    count = max(1, min(count, len(sizes)))
    out, index, filled = {}, 0, 0
    for module, size in sizes.items():
        if filled and filled + size / 2 > total * (index + 1) / count and index + 1 < count:
            index += 1
        out[module] = "chunk{}".format(index + 1)
        filled += size
    return out


# What starting a unit's interpreter and test runner costs, counted in tests of a suite of quick tests: a
# pytest start is about 0.3 s, a test of ~1 ms about 2 to 3 ms with pytest's own work and its report
# (docs/python.md, "How many chunks").
UNIT_START_IN_TESTS = 100


def default_chunk_count(tests, slots):
    """How many chunks the unmarked tests make when --chunks is not given: their share of `slots`, by what the
    pool's units cost (each its tests plus UNIT_START_IN_TESTS), rounded up. A suite without groups gets
    `slots` chunks; one whose serial and free groups are enough to keep the other slots busy gets fewer, as
    every chunk more is one start more. Isolated groups run in windows of their own, outside the pool, and do
    not count."""
    unmarked = sum(1 for t in tests if t.group is None)
    if not unmarked:
        return 1
    serial, free = {}, 0
    for t in tests:
        if t.group is None:
            continue
        if t.strategy == "serial":
            serial[t.group] = serial.get(t.group, 0) + 1
        elif t.strategy == "free":
            free += 1
    ours = unmarked + UNIT_START_IN_TESTS
    pool = ours + sum(n + UNIT_START_IN_TESTS for n in serial.values()) + free * (1 + UNIT_START_IN_TESTS)
    return max(1, min(slots, -(-slots * ours // pool)))


def build(tests, batch_cmd, group_by, chunk_count, cwd, env=None, timeout=None, prefix="", preload=None):
    """The manifest (a dict). `batch_cmd()` is a group's batch command. Every group has one, free groups
    too (each of their tests its own unit, its process given its one id), so every test's outcome is what
    the runner reports through the batch protocol; tests that are a unit each and in no group of the suite
    are in the free group `<prefix>ungrouped`. `chunk_count` None: default_chunk_count for the CPU count.
    `preload`: every batch's "preload" (docs/manifest.md), or None."""
    if group_by not in GROUP_BY:
        raise ValueError("group-by must be one of {}".format(", ".join(GROUP_BY)))
    names = Names()
    if group_by == "chunks" and chunk_count is None:
        chunk_count = default_chunk_count(tests, os.cpu_count() or 1)
    chunk_of = chunks(tests, chunk_count) if group_by == "chunks" else {}
    for t in tests:
        if t.group is not None:
            names("suite", t.group)  # the suite's own groups keep their names when they can
    groups, out = {}, []
    for t in tests:
        if t.group is not None:
            group = names("suite", t.group)
            strategy = t.strategy
        else:
            key = unmarked_key(t, group_by, chunk_of)
            group = names("unmarked", prefix + (key if key is not None else "ungrouped"))
            strategy = "serial" if key is not None else "free"
        if group not in groups:
            batch = {"cmd": batch_cmd()}
            if preload:
                batch["preload"] = preload
            groups[group] = {"strategy": strategy, "batch": batch}
        out.append({"name": t.id, "group": group})
    manifest = {"version": 1, "defaults": {"cwd": cwd}}
    if env:
        manifest["defaults"]["env"] = env
    if timeout is not None:
        manifest["defaults"]["timeout"] = timeout
    if groups:
        manifest["groups"] = groups
    manifest["tests"] = out
    return manifest


HIDDEN_IN_UNITS = ("/tmp", "/run")  # a unit gets fresh ones (docs/sandbox.md)


def package_env(cwd=None):
    """PYTHONPATH for the manifest when this package was found through it (a source tree), so that the
    tests' interpreter finds it too; nothing when it is installed where the interpreter looks anyway. Warns
    when the package lies where a unit's fresh /tmp or /run hides it (only the manifest's directory and the
    commands' cwd are bound there)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(mpexec.__file__)))
    cwd = os.path.realpath(cwd or os.getcwd())
    real = os.path.realpath(here)
    if any(real == d or real.startswith(d + "/") for d in HIDDEN_IN_UNITS) and not (real + "/").startswith(cwd + "/"):
        print("mpexec import: warning: the mpexec package is in {}, under /tmp or /run, which each sandboxed unit "
              "replaces with its own: the tests will not import it there. Install it (make install, "
              "python3-mpexec) or keep its tree elsewhere (docs/python.md)".format(here), file=sys.stderr)
    entries = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if any(os.path.abspath(p) == here for p in entries):
        return {"PYTHONPATH": os.pathsep.join(entries)}
    return {}


_interrupts = []  # the SIGINTs an importer's main has seen (command)


def go_on():
    """Between an importer's steps: raises KeyboardInterrupt when Ctrl-C came during the last one, even if
    that step's collector took it for an error and went on."""
    if _interrupts:
        raise KeyboardInterrupt


def command(tool):
    """Decorates an importer's main, which returns an exit status or the manifest to write to stdout.
    Ctrl-C (SIGINT) at any point ends the import with 130, a line on stderr and nothing on stdout, also
    where the collector takes the KeyboardInterrupt for one module's import error and goes on (pytest with
    --continue-on-collection-errors, unittest's and nose2's loaders): a manifest without that module's
    tests is not written over the one the user has."""
    def wrap(main):
        @functools.wraps(main)
        def run(*args, **kwargs):
            def on_sigint(signum, frame):
                _interrupts.append(signum)
                raise KeyboardInterrupt

            # Not when SIGINT is ignored (a background job's): then Ctrl-C is not meant for this process.
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                signal.signal(signal.SIGINT, on_sigint)
            try:
                result = main(*args, **kwargs)
                go_on()
            except KeyboardInterrupt:
                print("mpexec import {}: interrupted; no manifest written".format(tool), file=sys.stderr)
                return 128 + signal.SIGINT
            if isinstance(result, dict):
                dump(result)
                return 0
            return result
        return run
    return wrap


def dump(manifest, stream=None):
    """One group and one test per line: readable, and diffs of a re-import stay small."""
    stream = stream or sys.stdout
    d = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    parts = ['{{"version": {}'.format(d(manifest["version"]))]
    if "defaults" in manifest:
        parts.append(',\n "defaults": {}'.format(d(manifest["defaults"])))
    if "groups" in manifest:
        parts.append(',\n "groups": {\n' + ",\n".join(
            "  {}: {}".format(d(k), d(v)) for k, v in manifest["groups"].items()) + "}")
    parts.append(',\n "tests": [\n' + ",\n".join("  " + d(t) for t in manifest["tests"]) + "]}\n")
    stream.write("".join(parts))
