"""`mpexec import unittest [OPTIONS] [START_DIR]`: discovers a unittest or nose2 suite (with unittest's loader
or nose2's, --loader) and writes a manifest to stdout (docs/python.md). As nose2's mp plugin dispatches them,
the tests of a module with setUpModule or tearDownModule run in one process, and so do those of a class with
setUpClass or tearDownClass; each such module or class is a serial batch group. The other tests follow
--group-by."""

import argparse
import inspect
import io
import os
import sys
import unittest
from contextlib import redirect_stderr, redirect_stdout

from mpexec import manifest

_BASES = ("unittest.case", "unittest2.case")
DEFAULT_PATTERN = "test*.py"


def has_module_fixtures(test):
    module = sys.modules.get(type(test).__module__)
    return module is not None and (hasattr(module, "setUpModule") or hasattr(module, "tearDownModule"))


def has_class_fixtures(test):
    mro = [c for c in type(test).__mro__ if not any(b in c.__module__ for b in _BASES)]
    return any("setUpClass" in c.__dict__ or "tearDownClass" in c.__dict__ for c in mro)


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.BaseTestSuite):
            yield from flatten(t)
        else:
            yield t


def flatten_layers(suite, layer=None):
    """(test, the outermost nose2 layer it runs in, or None), in order. nose2's layers plugin (and such,
    which builds on it) wraps the tests of each layer in a LayerSuite, whose setUp runs around them."""
    for t in suite:
        if isinstance(t, unittest.BaseTestSuite):
            inner = layer or (getattr(t, "layer", None) if type(t).__name__ == "LayerSuite" else None)
            yield from flatten_layers(t, inner)
        else:
            yield t, layer


def not_collected(modules):
    """What nose2 would collect and unittest's loader does not, or not as nose2 does: test functions, plain
    test classes, and the methods of a TestCase that nose2 expands, parameters (nose2.tools.params) and
    generators, which unittest's loader takes for one test each (a generator's checks never run)."""
    found = []
    for name in sorted(modules):
        module = sys.modules.get(name)
        for attr, value in sorted(vars(module).items()) if module else ():
            if getattr(value, "__module__", None) != name:
                continue
            if inspect.isclass(value) and issubclass(value, unittest.TestCase):
                found += ["{}.{}.{}".format(name, attr, m) for m in _expanded_by_nose2(value)]
            elif not attr.lower().startswith("test"):
                continue
            elif inspect.isfunction(value) or inspect.isclass(value):
                found.append("{}.{}".format(name, attr))
    return found


def _is_testcase_method(name):
    module, cls, _ = name.rsplit(".", 2)
    value = getattr(sys.modules.get(module), cls, None)
    return inspect.isclass(value) and issubclass(value, unittest.TestCase)


def _expanded_by_nose2(case):
    loader = unittest.TestLoader()
    for method in loader.getTestCaseNames(case):
        func = getattr(case, method, None)
        if hasattr(func, "paramList") or inspect.isgeneratorfunction(func):
            yield method


def discover_unittest(start, pattern, top):
    """(tests, names unittest's loader misses) as unittest's discovery finds them; tests None on error."""
    try:
        suite = unittest.TestLoader().discover(start, pattern, top)
    except (ImportError, TypeError) as e:
        print("mpexec import unittest: discovery failed: {}".format(e), file=sys.stderr)
        return None, []
    tests, modules = [], set()
    for test in flatten(suite):
        test_id = test.id()
        cls = type(test)
        if cls.__name__ == "_FailedTest":
            # unittest.loader._FailedTest.<module>: a module that does not import stays, as a test that
            # fails with the import error at run time.
            module = test_id.rsplit(".", 1)[-1] if test_id.startswith("unittest.loader.") else test_id
            tests.append(manifest.Collected(module, module, stand_in=True))
            continue
        module = cls.__module__
        modules.add(module)
        tests.append(_grouped(test_id, test, module, "{}.{}".format(module, cls.__qualname__),
                              has_module_fixtures(test), has_class_fixtures(test)))
    tests = number_repeats(tests)
    # Modules discovery imported that hold no TestCase are candidates too.
    root = os.path.abspath(start) + os.sep
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(root):
            modules.add(name)
    return tests, not_collected(modules)


def number_repeats(tests):
    """Tests that share an id (a load_tests that makes an instance per parameter) are named ID#1, ID#2, ...
    in order; mpexec.unittest_batch finds the Nth of them in its module's load_tests."""
    counts = {}
    for t in tests:
        counts[t.id] = counts.get(t.id, 0) + 1
    seen = {}
    for t in tests:
        if counts[t.id] > 1:
            seen[t.id] = seen.get(t.id, 0) + 1
            t.id = "{}#{}".format(t.id, seen[t.id])
    return tests


def _grouped(test_id, test, module, klass, module_fixtures, class_fixtures):
    if module_fixtures:
        return manifest.Collected(test_id, module, klass, module, "serial")
    if class_fixtures:
        return manifest.Collected(test_id, module, klass, klass, "serial")
    return manifest.Collected(test_id, module, klass)


def nose2_available():
    try:
        import nose2  # noqa: F401
        return True
    except ImportError:
        return False


def has_nose2_config(start):
    """nose2 reads unittest.cfg and nose2.cfg in the current directory (and setup.cfg, tox.ini sections)."""
    return any(os.path.isfile(os.path.join(d, f)) for d in (".", start or ".") for f in ("unittest.cfg", "nose2.cfg"))


def nose2_dirs(start, top):
    """nose2's -s and -t: only those given, so that without START_DIR nose2 starts where its configuration
    says (start-dir), as `nose2` does."""
    return (["-s", os.path.abspath(start)] if start else []) + (["-t", os.path.abspath(top)] if top else [])


def discover_nose2(start, top):
    """The tests as nose2 collects them, grouped as its mp plugin groups them (nose2.util)."""
    from nose2.main import PluggableTestProgram
    from nose2 import util
    from mpexec.nose2_batch import EXCLUDED_PLUGINS, test_id as nose2_id

    found = []

    class Collect:
        def startTestRun(self, event):
            event.executeTests = lambda suite, result: found.extend(flatten_layers(suite))

    argv = ["nose2"] + nose2_dirs(start, top)
    said = io.StringIO()
    with redirect_stdout(said), redirect_stderr(said):  # nose2's "Ran 0 tests": not for the manifest's stdout
        PluggableTestProgram(module=None, argv=argv, exit=False, excludePlugins=EXCLUDED_PLUGINS,
                             extraHooks=[("startTestRun", Collect())])
    tests = []
    for test, layer in found:
        test_id = nose2_id(test)
        if test_id.startswith("nose2.loader."):
            module = test_id.rsplit(".", 1)[-1]
            print("mpexec import unittest: warning: cannot load {}".format(module), file=sys.stderr)
            tests.append(manifest.Collected(module, module, stand_in=True))
            continue
        owner = test.obj if type(test).__name__ == "_MethodTestCase" else test
        cls = type(owner)
        module = cls.__module__ if not hasattr(test, "_testFunc") else test._testFunc.__module__
        # A module's tests in layers run in one process, as its tests with module fixtures do: a layer's
        # setUp runs once around all of them (such specs: one layer per `with it.having(...)`).
        tests.append(_grouped(test_id, test, module, "{}.{}".format(cls.__module__, cls.__name__),
                              util.has_module_fixtures(test) or layer is not None, util.has_class_fixtures(test)))
    return number_repeats(tests)


@manifest.command("unittest")
def main(argv=None):
    p = argparse.ArgumentParser(prog="mpexec import unittest",
                                description="Discover a unittest suite and write an mpexec manifest to stdout.")
    p.add_argument("start", nargs="?", default=None, metavar="START_DIR",
                   help="where discovery starts (.; for nose2, its configuration's start-dir)")
    p.add_argument("-p", "--pattern", default=DEFAULT_PATTERN, help="test file pattern (test*.py)")
    p.add_argument("-t", "--top-level-directory", dest="top", default=None,
                   help="the top-level directory of the project (START_DIR)")
    p.add_argument("--group-by", choices=manifest.GROUP_BY, default="chunks",
                   help="units for tests without class or module fixtures (default: chunks)")
    p.add_argument("--chunks", type=int, default=None, metavar="N",
                   help="how many units --group-by chunks makes (default: the share of the CPUs that the "
                        "suite's serial and free groups leave, docs/python.md)")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="defaults.timeout of the manifest")
    p.add_argument("--loader", choices=("auto", "unittest", "nose2"), default="auto",
                   help="who collects and runs: unittest's loader, nose2's (test functions, generators, params, "
                        "plugins of the suite's nose2 config), or nose2 when it is installed and the suite has "
                        "a nose2 config or tests unittest's loader misses (default)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.start is not None and not os.path.isdir(args.start):
        p.error("START_DIR {} is not a directory".format(args.start))
    start = args.start or "."
    top = os.path.abspath(args.top or start)
    tests, missed = discover_unittest(start, args.pattern, args.top)
    manifest.go_on()
    loader = args.loader
    if loader == "auto":
        wanted = missed or has_nose2_config(args.start) or not tests
        loader = "nose2" if wanted and nose2_available() else "unittest"
    if loader == "nose2":
        if not nose2_available():
            print("mpexec import unittest: {} cannot import nose2 (on Debian: apt install python3-nose2)".format(
                sys.executable), file=sys.stderr)
            return 2
        tests = discover_nose2(args.start, args.top)
    else:
        for t in tests or []:
            if t.id == t.module:
                print("mpexec import unittest: warning: cannot load {}".format(t.id), file=sys.stderr)
        for name in missed:
            what = ("is a nose2 parametrized or generator method: unittest's loader (and so this manifest) takes "
                    "it for one test" if name.count(".") >= 2 and _is_testcase_method(name) else
                    "is not a unittest.TestCase test: unittest's loader (and so this manifest) leaves it out")
            print("mpexec import unittest: warning: {} {}; nose2 would run it (--loader nose2)".format(name, what),
                  file=sys.stderr)
    if tests is None:
        return 2
    if not tests:
        print("mpexec import unittest: no tests found in {} (pattern {})".format(start, args.pattern),
              file=sys.stderr)
        return 2
    if loader == "nose2":
        base = [sys.executable, "-m", "mpexec.nose2_batch"] + nose2_dirs(args.start, args.top)
    else:
        base = [sys.executable, "-m", "mpexec.unittest_batch", "--top", top]
        base += ["-p", args.pattern] if args.pattern != DEFAULT_PATTERN else []
    result = manifest.build(
        tests, batch_cmd=lambda: list(base),
        group_by=args.group_by, chunk_count=args.chunks, cwd=os.getcwd(),
        env=manifest.package_env(), timeout=args.timeout, prefix=loader + ".")
    return result


if __name__ == "__main__":
    sys.exit(main())
