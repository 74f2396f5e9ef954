#pragma once
// The manifest tests' fixture: a temporary project with a script, a tool and directories to point at.

#include <initializer_list>
#include <string>

#include <gtest/gtest.h>

#include "executor/manifest.h"
#include "tests/support/temp_dir.h"

namespace mpexec::test {

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_.write("t.sh", "#!/bin/sh\nexit 0\n", /*executable=*/true);
    tmp_.write("bin/tool", "#!/bin/sh\nexit 0\n", true);
    tmp_.write("plain.txt", "not a program\n");
    tmp_.write("sub/keep", "");
    tmp_.write("out/keep", "");
  }

  std::string dir() const { return tmp_.path(); }
  std::string path() const { return dir() + "/m.json"; }

  Result<Manifest> load(const std::string& text, const ManifestOptions& opts = {}) {
    tmp_.write("m.json", text);
    return loadManifest(path(), opts);
  }

  Manifest loadOk(const std::string& text, const ManifestOptions& opts = {}) {
    auto r = load(text, opts);
    if (!r.ok()) {
      ADD_FAILURE() << "unexpected error: " << r.error().message();
      return {};
    }
    return std::move(r.value());
  }

  // The load fails with a message that starts with the file and contains every part, in order.
  void expectError(const std::string& text, std::initializer_list<std::string> parts) {
    auto r = load(text);
    ASSERT_FALSE(r.ok()) << "accepted: " << text;
    std::string msg = r.error().message();
    EXPECT_EQ(msg.rfind(path() + ":", 0), 0u) << msg;
    std::size_t from = 0;
    for (const std::string& p : parts) {
      std::size_t at = msg.find(p, from);
      EXPECT_NE(at, std::string::npos) << "missing \"" << p << "\" in: " << msg;
      if (at != std::string::npos) from = at + p.size();
    }
  }

  // A manifest with one test whose extra keys are `extra` (a JSON fragment starting with a comma).
  static std::string oneTest(const std::string& extra) {
    return R"({"version": 1, "tests": [{"name": "a", "cmd": ["./t.sh"])" + extra + "}]}";
  }

  test::TempDir tmp_;
};


}  // namespace mpexec::test
