#pragma once
// What the integration suites share to run the real binary both ways: with the sandbox, and with
// --no-sandbox. A host without a sandbox skips the sandboxed runs rather than failing them.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec::test {

/// Whether mpexec can run a unit in a sandbox here: a one-test manifest (written in `dir`) that does not end
/// in exit status 3. When it cannot, `why` gets what mpexec said.
inline bool hostHasSandbox(const TempDir& dir, std::string* why) {
  const std::string probe = dir.write("probe.json", R"({"version": 1, "tests": [{"name": "p", "cmd": ["/bin/true"]}]})");
  Finished r = runMpexec({"-q", probe});
  if (r.exit_code != 3) return true;
  *why = r.out;
  return false;
}

/// A test that runs with the sandbox (parameter true) and with --no-sandbox (false), in a temp directory of
/// its own. Instantiate it with ::testing::Bool() or ::testing::Values(false, true).
class SandboxModesTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string why;
    if (sandboxed() && !hostHasSandbox(dir_, &why)) GTEST_SKIP() << "no sandbox on this host: " << why;
  }
  bool sandboxed() const { return GetParam(); }
  /// `args`, after --no-sandbox when the test runs without the sandbox.
  std::vector<std::string> inMode(std::vector<std::string> args) const {
    if (!sandboxed()) args.insert(args.begin(), "--no-sandbox");
    return args;
  }

  TempDir dir_;
};

}  // namespace mpexec::test
