"""`mpexec import unittest [OPTIONS] [START_DIR]`: discovers a unittest (or nose2 -N) suite and writes a
manifest to stdout (docs/python.md). As nose2's mp plugin dispatches them, the tests of a module with
setUpModule or tearDownModule run in one process, and so do those of a class with setUpClass or
tearDownClass; each such module or class is a serial batch group. The other tests follow --group-by."""

import argparse
import inspect
import os
import sys
import unittest

from mpexec import manifest

_BASES = ("unittest.case", "unittest2.case")


def has_module_fixtures(test):
    module = sys.modules.get(type(test).__module__)
    return module is not None and (hasattr(module, "setUpModule") or hasattr(module, "tearDownModule"))


def has_class_fixtures(test):
    mro = [c for c in type(test).__mro__ if not any(b in c.__module__ for b in _BASES)]
    return any("setUpClass" in c.__dict__ or "tearDownClass" in c.__dict__ for c in mro)


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t


def not_collected(modules):
    """What nose2 would collect and unittest's loader does not: test functions and plain test classes."""
    found = []
    for name in sorted(modules):
        module = sys.modules.get(name)
        for attr, value in sorted(vars(module).items()) if module else ():
            if getattr(value, "__module__", None) != name or not attr.lower().startswith("test"):
                continue
            if inspect.isfunction(value) or (inspect.isclass(value) and not issubclass(value, unittest.TestCase)):
                found.append("{}.{}".format(name, attr))
    return found


def main(argv=None):
    p = argparse.ArgumentParser(prog="mpexec import unittest",
                                description="Discover a unittest suite and write an mpexec manifest to stdout.")
    p.add_argument("start", nargs="?", default=".", metavar="START_DIR", help="where discovery starts (.)")
    p.add_argument("-p", "--pattern", default="test*.py", help="test file pattern (test*.py)")
    p.add_argument("-t", "--top-level-directory", dest="top", default=None,
                   help="the top-level directory of the project (START_DIR)")
    p.add_argument("--group-by", choices=manifest.GROUP_BY, default="chunks",
                   help="units for tests without class or module fixtures (default: chunks)")
    p.add_argument("--chunks", type=int, default=None, metavar="N",
                   help="how many units --group-by chunks makes (default: the number of CPUs)")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="defaults.timeout of the manifest")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if not os.path.isdir(args.start):
        p.error("START_DIR {} is not a directory".format(args.start))
    top = os.path.abspath(args.top or args.start)
    loader = unittest.TestLoader()
    try:
        suite = loader.discover(args.start, args.pattern, args.top)
    except (ImportError, TypeError) as e:
        print("mpexec import unittest: discovery failed: {}".format(e), file=sys.stderr)
        return 2
    tests, modules = [], set()
    for test in flatten(suite):
        test_id = test.id()
        cls = type(test)
        if cls.__name__ == "_FailedTest":
            # unittest.loader._FailedTest.<module>: a module that does not import stays, as a test that
            # fails with the import error at run time.
            module = test_id.rsplit(".", 1)[-1] if test_id.startswith("unittest.loader.") else test_id
            print("mpexec import unittest: warning: cannot load {}: {}".format(
                module, str(getattr(test, "_exception", "")).splitlines()[0:1]), file=sys.stderr)
            tests.append(manifest.Collected(module, module))
            continue
        module = cls.__module__
        modules.add(module)
        klass = "{}.{}".format(module, cls.__qualname__)
        if has_module_fixtures(test):
            tests.append(manifest.Collected(test_id, module, klass, module, "serial"))
        elif has_class_fixtures(test):
            tests.append(manifest.Collected(test_id, module, klass, klass, "serial"))
        else:
            tests.append(manifest.Collected(test_id, module, klass))
    for name in not_collected(modules):
        print("mpexec import unittest: warning: {} is not a unittest.TestCase test: unittest's loader "
              "(and so this manifest) leaves it out".format(name), file=sys.stderr)
    if not tests:
        print("mpexec import unittest: no tests found in {} (pattern {})".format(args.start, args.pattern),
              file=sys.stderr)
        return 2
    base = [sys.executable, "-m", "mpexec.unittest_batch", "--top", top]
    result = manifest.build(
        tests, batch_cmd=lambda: list(base), single_cmd=lambda t: base + ["--single", t.id],
        group_by=args.group_by, chunk_count=args.chunks or os.cpu_count() or 1, cwd=os.getcwd(),
        env=manifest.package_env(), timeout=args.timeout, prefix="unittest.")
    manifest.dump(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
