#include "executor/import/import_python.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace fs = std::filesystem;

// Sets PATH for one test and puts the old value back.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    const char* old = getenv("PATH");
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() { had_ ? setenv("PATH", old_.c_str(), 1) : unsetenv("PATH"); }

 private:
  bool had_ = false;
  std::string old_;
};

TEST(ChoosePython, GivenInterpreterWins) {
  test::TempDir dir;
  dir.write("bin/pytest", "#!/opt/py/bin/python3.11\n", true);
  ScopedPath path(dir.path() + "/bin");
  EXPECT_EQ(choosePython("/usr/bin/python3", true), "/usr/bin/python3");
}

TEST(ChoosePython, PytestsShebangNamesTheInterpreter) {
  test::TempDir dir;
  dir.write("bin/pytest", "#!/opt/py/bin/python3.11 -s\nimport pytest\n", true);
  dir.write("bin/python3", "", true);
  ScopedPath path(dir.path() + "/bin");
  EXPECT_EQ(choosePython(std::nullopt, true), "/opt/py/bin/python3.11");
  // unittest does not look at pytest.
  EXPECT_EQ(choosePython(std::nullopt, false), dir.path() + "/bin/python3");
}

TEST(ChoosePython, EnvShebangIsLookedUpInPath) {
  test::TempDir dir;
  dir.write("bin/pytest", "#!/usr/bin/env python3\n", true);
  dir.write("bin/python3", "", true);
  ScopedPath path(dir.path() + "/bin");
  EXPECT_EQ(choosePython(std::nullopt, true), dir.path() + "/bin/python3");
}

TEST(ChoosePython, APytestThatIsNoPythonScriptFallsBackToPython3) {
  test::TempDir dir;
  dir.write("bin/pytest", "#!/bin/sh\nexec pyenv exec pytest \"$@\"\n", true);
  dir.write("bin/python3", "", true);
  ScopedPath path(dir.path() + "/bin");
  EXPECT_EQ(choosePython(std::nullopt, true), dir.path() + "/bin/python3");
}

TEST(ChoosePython, NothingInPathLeavesTheNameToExec) {
  test::TempDir dir;
  ScopedPath path(dir.path());
  EXPECT_EQ(choosePython(std::nullopt, true), "python3");
}

TEST(SourceTreePackageDir, FoundBesideBuildTrees) {
  test::TempDir dir;
  dir.write("python/mpexec/__init__.py", "");
  std::string python = fs::canonical(dir.path() + "/python").string();
  EXPECT_EQ(sourceTreePackageDir(dir.path() + "/build/release/mpexec"), python);
  EXPECT_EQ(sourceTreePackageDir(dir.path() + "/build/mpexec"), python);
  EXPECT_EQ(sourceTreePackageDir(dir.path() + "/opt/mpexec/bin/mpexec"), std::nullopt);
  EXPECT_EQ(sourceTreePackageDir(""), std::nullopt);
}

}  // namespace
}  // namespace mpexec
