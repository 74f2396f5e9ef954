#pragma once
// `mpexec import pytest [...]` and `mpexec import unittest [...]`: the collection runs in Python, in the
// mpexec package (python/mpexec, docs/python.md). This side chooses the interpreter, makes the package
// importable when mpexec runs from its build tree, and hands over the command line.

#include <optional>
#include <string>
#include <vector>

namespace mpexec {

/// Where the interpreter comes from: `--python PY` wins; else, for pytest, the interpreter named in the
/// `#!` line of the `pytest` found in PATH (so `mpexec import pytest` collects with the pytest the user
/// runs); else `python3` from PATH. Returns the path or name to exec.
std::string choosePython(const std::optional<std::string>& given, bool for_pytest);

/// The directory that holds the package (`<dir>/mpexec/__init__.py`) in the source tree beside this
/// executable (build/mpexec or build/<mode>/mpexec), or nothing when mpexec is installed and the package
/// is expected in the interpreter's own path (dist-packages).
std::optional<std::string> sourceTreePackageDir(const std::string& exe);

/// The subtools (argv[0] is "pytest" or "unittest"): exec the interpreter with the Python importer, or
/// return 2 on a usage error or when it cannot be started.
int importPytestMain(int argc, char** argv);
int importUnittestMain(int argc, char** argv);

}  // namespace mpexec
