// mpexec as uid 0 of a user namespace (a rootless container, `unshare -r`): root there, but without the
// host's privileges. Where mpexec's own mount and network namespaces belong to a parent user namespace it
// cannot enter or copy them, so units get user namespaces as for a user; where they are its own, units
// run as uid 0 without capabilities and without ids of their own (no idmapped mounts of the host's
// filesystems), the report says so, and what does not need those ids still holds (issue 17).

#include <unistd.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/sandbox/init_setid_run.h"
#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec::test {
namespace {

namespace json = boost::json;

class RootOfAUserNamespace : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/unshare";
    if (system("/usr/bin/unshare --user --map-root-user /bin/true 2>/dev/null") != 0)
      GTEST_SKIP() << "unshare --user --map-root-user fails here (no user namespaces)";
  }
  /// Runs mpexec under `unshare --user --map-root-user` and the extra unshare flags.
  Finished underUnshare(const std::string& flags, const std::vector<std::string>& args) {
    std::string wrapper = dir_.write("unshare.sh",
                                     "#!/bin/sh\nexec /usr/bin/unshare --user --map-root-user " + flags + " " +
                                         mpexecBinary() + " \"$@\"\n",
                                     true);
    ScopedEnv bin("MPEXEC_BIN", wrapper);
    return runMpexec(args, 60);
  }
  std::string detail(const json::object& rep) const {
    const auto* v = rep.at("run").as_object().if_contains("sandbox_detail");
    return v && v->is_string() ? std::string(v->as_string()) : "";
  }
  std::string logOf(const json::object& rep, const char* t) const {
    return readFile(dir_.path() + "/" + std::string(testEntry(rep, t).at("log").as_string()));
  }
  TempDir dir_;
};

// Only a user namespace of its own (the host's mount and network namespaces): mpexec could unshare, but
// neither go back to its network namespace after making one ahead nor copy a host path out of its mount
// namespace. Its units then run as a user's would, and pass; the init's oom_score_adj stays its own.
TEST_F(RootOfAUserNamespace, WhoseNamespacesAreTheParentsRunsUnitsAsAUsersUnits) {
  std::string m = dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "a", "cmd": ["/bin/sh", "-c", "echo a > $MPEXEC_OUTPUT_DIR/a"]},
    {"name": "b", "cmd": ["/bin/true"]},
    {"name": "c", "cmd": ["/bin/sh", "-c", "echo 1000 > /proc/1/oom_score_adj && echo wrote; exit 0"]}]})");
  std::string rep_path = dir_.path() + "/report.json";
  auto r = underUnshare("", {"--json", rep_path, "-j", "2", m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(rep_path);
  for (const char* t : {"a", "b", "c"})
    EXPECT_EQ(testEntry(rep, t).at("outcome").as_string(), "PASS") << t << ":\n" << r.out;
  EXPECT_NE(detail(rep).find("user namespace"), std::string::npos) << detail(rep);
  // The unit is uid 0 there, as its init's files are: still not one of them may be written.
  EXPECT_EQ(logOf(rep, "c").find("wrote"), std::string::npos) << logOf(rep, "c");
}

// Its own mount and network namespaces too (`unshare -rmn`): root of those, but no idmapped mounts of the
// host's filesystems. The report says so; the setid guard, the init's protection and the hidden state
// directory hold without unit ids.
TEST_F(RootOfAUserNamespace, WithoutIdmappedMountsTheReportSaysSoAndTheGuardsHold) {
  std::string m = writeInitAndSetidManifest(dir_);
  ASSERT_FALSE(m.empty()) << "cc failed on the attack programs";
  std::string rep_path = dir_.path() + "/report.json";
  // A state directory of this run first, so that the unit has something to look for.
  (void)underUnshare("--mount --net", {"-q", m});
  auto r = underUnshare("--mount --net", {"--json", rep_path, "-j", "1", m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(rep_path);
  EXPECT_NE(detail(rep).find("units run as uid 0 without capabilities: no idmapped mounts here"), std::string::npos)
      << detail(rep);
  expectInitAndSetidContained(rep, dir_);
}

}  // namespace
}  // namespace mpexec::test
