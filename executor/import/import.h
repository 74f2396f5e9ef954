#pragma once
// The `mpexec import` subtool: manifests from the tools C++ projects already use.

namespace mpexec {

/// `import gtest BIN...`, `import ctest BUILD_DIR [-C CONFIG]`, `import pytest ...` or `import unittest ...`
/// (argv[0] is "import"); the manifest goes
/// to stdout, warnings to stderr. Returns the exit code: 0, or 2 on a usage or input error.
int importMain(int argc, char** argv);

}  // namespace mpexec
