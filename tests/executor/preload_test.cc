// Which commands a preloaded interpreter may run, and which paths mpexec trusts enough to start one from.

#include "executor/preload.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

sandbox::CommandSpec pytestCommand(std::vector<std::string> env) {
  sandbox::CommandSpec c;
  c.argv = {"/usr/bin/python3", "-m", "pytest", "-q"};
  c.env = std::move(env);
  c.preload = true;
  return c;
}

TEST(PreloadKey, TheStartupEnvironmentDecidesTheInterpreterAndTheRestIsPerCommand) {
  auto key = preloadKey(pytestCommand({"PYTHONPATH=/src", "PYTHONHASHSEED=7", "MPEXEC_SYNC_TOKEN=t", "LANG=C.UTF-8",
                                       "PYTHONDONTWRITEBYTECODE=1", "PYTHONWARNINGS=error", "PYTHONOPTIMIZE="}),
                        nullptr);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->interpreter, "/usr/bin/python3");
  EXPECT_EQ(key->startup_env, (std::vector<std::string>{"LANG=C.UTF-8", "PYTHONHASHSEED=7", "PYTHONWARNINGS=error"}))
      << "the token and PYTHONPATH are the command's own; an empty variable is unset to Python";
  auto other = preloadKey(pytestCommand({"PYTHONPATH=/other", "PYTHONHASHSEED=7", "LANG=C.UTF-8",
                                         "PYTHONWARNINGS=error"}),
                          nullptr);
  ASSERT_TRUE(other);
  EXPECT_FALSE(*key < *other || *other < *key) << "one interpreter for both";
}

TEST(PreloadKey, WhatAnInterpreterOnlyDoesAtItsStartIsExecd) {
  std::string why;
  for (const char* var : {"PYTHONHOME=/opt/py", "PYTHONPLATLIBDIR=lib64", "PYTHONINSPECT=1", "PYTHONNEWTHING=x"}) {
    EXPECT_FALSE(preloadKey(pytestCommand({var}), &why)) << var;
    EXPECT_EQ(why, std::string(var).substr(0, std::string(var).find('=')) + " is set");
  }
  sandbox::CommandSpec relative = pytestCommand({});
  relative.argv[0] = "python3";
  EXPECT_FALSE(preloadKey(relative, &why));
  EXPECT_EQ(why, "the command's interpreter is not an absolute path");
}

TEST(UntrustedPath, OnlyWhatRootOrTheInvokerAloneCanWrite) {
  test::TempDir dir;
  std::string package = dir.path() + "/pkg";
  ASSERT_EQ(mkdir(package.c_str(), 0755), 0);
  std::string module = dir.write("pkg/mod.py", "x = 1\n");
  chmod(module.c_str(), 0644);
  chmod(dir.path().c_str(), 0755);
  // TempDir lives under TMPDIR (/tmp: sticky and writable by all), which is allowed above the path.
  EXPECT_EQ(untrustedPath(package, true), "");
  chmod(module.c_str(), 0666);
  EXPECT_EQ(untrustedPath(package, true), module + " is writable by others than its owner");
  EXPECT_EQ(untrustedPath(package), "") << "without whole_directory, only the path and what is above it";
  chmod(module.c_str(), 0644);
  chmod(package.c_str(), 01777);
  EXPECT_EQ(untrustedPath(package), package + " is writable by others than its owner")
      << "a sticky directory is allowed above the path, never as the path itself";
  chmod(package.c_str(), 0755);
  chmod(dir.path().c_str(), 0775);
  EXPECT_EQ(untrustedPath(package), dir.path() + " is writable by others than its owner");
  chmod(dir.path().c_str(), 0755);
  if (geteuid() == 0) {
    ASSERT_EQ(chown(module.c_str(), 4242, 4242), 0);
    EXPECT_EQ(untrustedPath(package, true), module + " belongs to uid 4242");
  }
  EXPECT_NE(untrustedPath(dir.path() + "/missing"), "");
}

TEST(WritableOverlap, NeitherInAWritablePathNorHoldingOne) {
  test::TempDir dir;
  std::string package = dir.path() + "/python";
  ASSERT_EQ(mkdir(package.c_str(), 0755), 0);
  EXPECT_EQ(writableOverlap(package, {}), "");
  EXPECT_EQ(writableOverlap(package, {package + "x", dir.path() + "/pytho", "/nonexistent"}), "")
      << "a path that only starts with the same characters is another";
  EXPECT_EQ(writableOverlap(package, {package}), package + " is a writable path of the run, or holds one: " + package);
  EXPECT_NE(writableOverlap(package, {dir.path()}), "") << "in a writable path";
  EXPECT_NE(writableOverlap(package, {package + "/mpexec/__pycache__"}), "") << "holding one";
  EXPECT_NE(writableOverlap(package, {"/"}), "");
  ASSERT_EQ(symlink(package.c_str(), (dir.path() + "/link").c_str()), 0);
  EXPECT_NE(writableOverlap(dir.path() + "/link", {package}), "") << "the path is taken as its real path";
}

}  // namespace
}  // namespace mpexec
