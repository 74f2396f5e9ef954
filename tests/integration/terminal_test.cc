// The terminal as a user sees it, on a real one: mpexec runs in a tmux pane (send-keys, capture-pane),
// and the test reads the screen: the status line with its clock, counts and running tests, colours, the
// SLOW lines and the Ctrl-C summary. The same run piped to a file has no escape codes at all.
//
// Nothing here waits on a timer to be right: the long tests wait for a file the test creates once it has
// seen what it looks for, and every wait for the screen is bounded only to fail rather than hang.

#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

using test::shell;

std::string shq(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

/// A tmux server of our own (its own socket, no configuration) with one 200×50 pane running `command`.
class Tmux {
 public:
  Tmux(const std::string& dir, const std::string& command) : socket_(dir + "/tmux.sock") {
    std::string out;
    started_ = shell("tmux -f /dev/null -S " + shq(socket_) + " new-session -d -s t -x 200 -y 50 " + shq(command), &out) == 0;
    if (!started_) error_ = out;
  }
  ~Tmux() { shell("tmux -S " + shq(socket_) + " kill-server"); }
  bool started() const { return started_; }
  const std::string& error() const { return error_; }

  /// The pane with its history, wrapped lines joined; `escapes` keeps the colour sequences.
  std::string capture(bool escapes = false) const {
    std::string out;
    shell("tmux -S " + shq(socket_) + " capture-pane -p -J -S - " + (escapes ? "-e " : "") + "-t t", &out);
    return out;
  }
  void sendKeys(const std::string& keys) const { shell("tmux -S " + shq(socket_) + " send-keys -t t " + keys); }

  /// Polls the screen until `done` holds (true) or `timeout_s` passes (false).
  template <class F>
  bool waitFor(F done, double timeout_s = 60) const {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (!done(capture())) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }

 private:
  std::string socket_;
  bool started_ = false;
  std::string error_;
};

class TerminalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (shell("command -v tmux >/dev/null") != 0)
      GTEST_SKIP() << "tmux is not installed (packaging/install-deps.sh installs it)";
  }
  /// A test that runs until the test creates `release` (or a minute passes, so nothing outlives a failure).
  std::string waiting(const std::string& name) const {
    return R"({"name": ")" + name + R"(", "cmd": ["/bin/sh", "-c", "i=0; while [ ! -e )" + dir_.path() +
           R"(/release ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"]})";
  }
  /// The command the pane runs: mpexec, then its exit code on a line of its own. The shell traps SIGINT so
  /// that Ctrl-C reaches mpexec and the shell still prints the code.
  std::string paneCommand(const std::string& args) const {
    return "cd " + shq(dir_.path()) + " && trap : INT; env -u NO_COLOR " + shq(test::mpexecBinary()) +
           " --no-sandbox " + args + "; echo \"EXIT=$?\"; sleep 600";
  }
  void release() const { dir_.write("release", ""); }

  test::TempDir dir_;
};

TEST_F(TerminalTest, StatusLineColourCountsAndSlowWarningOnATerminal) {
  dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "quick.pass", "cmd": ["/bin/true"]},
    {"name": "quick.fail", "cmd": ["/bin/sh", "-c", "echo broken; exit 3"]},)" +
                           waiting("slow.a") + "," + waiting("slow.b") + "]}");
  Tmux tmux(dir_.path(), paneCommand("-j 4 --slow 1 m.json"));
  ASSERT_TRUE(tmux.started()) << tmux.error();
  // The status line: done/planned, the clock, a count per outcome so far, and both running tests by name.
  std::regex status(R"(\[2/4 \d+s 1 PASS 1 FAIL\] 2 running: slow\.[ab]( \(\d+s\))?, slow\.[ab])");
  bool seen = tmux.waitFor([&](const std::string& s) { return std::regex_search(s, status); });
  EXPECT_TRUE(seen) << tmux.capture();
  // A SLOW line for each after a second, and the failure with its exit code and output.
  bool slow = tmux.waitFor([](const std::string& s) {
    return has(s, "SLOW    slow.a (running for") && has(s, "SLOW    slow.b (running for");
  });
  EXPECT_TRUE(slow) << tmux.capture();
  std::string colours = tmux.capture(true);
  release();
  ASSERT_TRUE(tmux.waitFor([](const std::string& s) { return has(s, "EXIT="); })) << tmux.capture();
  std::string screen = tmux.capture();
  EXPECT_TRUE(has(screen, "FAIL    quick.fail (")) << screen;
  EXPECT_TRUE(has(screen, "exit 3\n--- output of quick.fail ---\nbroken\n")) << screen;
  EXPECT_TRUE(has(screen, "  rerun: ")) << screen;
  EXPECT_TRUE(has(screen, "4 tests: 3 PASS, 1 FAIL")) << screen;
  EXPECT_TRUE(has(screen, "EXIT=1")) << screen;
  // Colour on a terminal: FAIL in red, PASS in green (tmux writes the sequences its own way).
  EXPECT_TRUE(std::regex_search(colours, std::regex("\x1b\\[[0-9;]*31m[^\x1b]*FAIL"))) << colours;
  EXPECT_TRUE(std::regex_search(colours, std::regex("\x1b\\[[0-9;]*32m[^\x1b]*PASS"))) << colours;
}

TEST_F(TerminalTest, CtrlCSummaryLeadsWithInterruptedAndListsNoNotRunTestAsAFailure) {
  // Each held test leaves a process in a session of its own that ignores SIGINT and SIGTERM: Ctrl-C on
  // the terminal reaches neither, and mpexec must still leave nothing behind.
  const std::string marker = "mpexec-ctrl-c-" + std::to_string(getpid());
  auto held = [&](const std::string& name) {
    return R"({"name": ")" + name + R"(", "cmd": ["/bin/bash", "-c", "setsid bash -c 'trap \"\" INT TERM; exec -a )" +
           marker + R"( sleep 600' & exec -a )" + marker + R"( sleep 600"]})";
  };
  dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "early.fail", "cmd": ["/bin/sh", "-c", "exit 1"]},)" +
                           held("held.a") + "," + held("held.b") + "," + held("held.c") + "]}");
  Tmux tmux(dir_.path(), paneCommand("-j 2 --json r.json --junit r.xml --html r.html m.json"));
  ASSERT_TRUE(tmux.started()) << tmux.error();
  // Two held tests run, one waits for a slot: Ctrl-C then.
  ASSERT_TRUE(tmux.waitFor([](const std::string& s) { return std::regex_search(s, std::regex(R"(1 FAIL\] 2 running: held)")); }))
      << tmux.capture();
  // The four sleeps are the processes whose argv[0] is the marker; a bash on its way to exec one of them
  // holds the marker in its -c text only, and counting those made the test see 4, then 3.
  auto sleeps = [&] {
    size_t n = 0;
    for (pid_t pid : test::processesWith(marker))
      if (test::readFile("/proc/" + std::to_string(pid) + "/cmdline").rfind(marker + '\0', 0) == 0) ++n;
    return n;
  };
  for (int i = 0; i < 600 && sleeps() < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(sleeps(), 4u) << tmux.capture();
  tmux.sendKeys("C-c");
  ASSERT_TRUE(tmux.waitFor([](const std::string& s) { return has(s, "EXIT="); })) << tmux.capture();
  // Nothing is lost: no process is left, and every report is written with what did not run as NOT_RUN.
  EXPECT_TRUE(test::processesWith(marker).empty()) << "processes outlived Ctrl-C";
  std::string json = test::readFile(dir_.path() + "/r.json");
  EXPECT_TRUE(has(json, R"("exit_code":130)")) << json;
  EXPECT_EQ(std::regex_search(json, std::regex(R"("name":"held\.[abc]"[^}]*"outcome":"NOT_RUN")")), true) << json;
  size_t not_run = 0;
  for (size_t at = json.find(R"("outcome":"NOT_RUN")"); at != std::string::npos; at = json.find(R"("outcome":"NOT_RUN")", at + 1))
    ++not_run;
  EXPECT_EQ(not_run, 3u) << json;
  std::string junit = test::readFile(dir_.path() + "/r.xml");
  EXPECT_TRUE(has(junit, R"(tests="4" failures="1" errors="3")")) << junit;
  EXPECT_TRUE(has(test::readFile(dir_.path() + "/r.html"), "held.c")) << "no HTML report";
  std::string screen = tmux.capture();
  EXPECT_TRUE(has(screen, "EXIT=130")) << screen;
  size_t interrupted = screen.find("INTERRUPTED by signal 2 (SIGINT): every running unit was killed; 3 tests not run");
  ASSERT_NE(interrupted, std::string::npos) << screen;
  size_t failures = screen.find("Failures:");
  ASSERT_NE(failures, std::string::npos) << screen;
  EXPECT_LT(interrupted, failures) << screen;
  std::string after = screen.substr(failures);
  EXPECT_TRUE(has(after, "FAIL    early.fail")) << screen;
  EXPECT_FALSE(has(after, "held.")) << "a test that did not run is listed as a failure:\n" << screen;
  EXPECT_TRUE(has(after, "4 tests: 1 FAIL, 3 NOT_RUN")) << screen;
}

TEST_F(TerminalTest, RetriesShowEachAttemptAndTheFlakyTestsOnATerminal) {
  release();
  dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "flaky", "cmd": ["/bin/sh", "-c", "if [ -e tried ]; then exit 0; fi; touch tried; echo first; exit 1"]},
    {"name": "broken", "cmd": ["/bin/sh", "-c", "echo always; exit 3"]}]})");
  Tmux tmux(dir_.path(), paneCommand("-j 2 --retries 2 m.json"));
  ASSERT_TRUE(tmux.started()) << tmux.error();
  ASSERT_TRUE(tmux.waitFor([](const std::string& s) { return has(s, "EXIT="); })) << tmux.capture();
  std::string screen = tmux.capture();
  EXPECT_TRUE(std::regex_search(screen, std::regex(R"(RETRY   flaky \(\d+ms\)  attempt 1 FAIL: exit 1, retrying\n)"))) << screen;
  EXPECT_TRUE(std::regex_search(screen, std::regex(R"(FLAKY   flaky \(\d+ms, attempt 2\)  passed on attempt 2\n)"))) << screen;
  EXPECT_TRUE(std::regex_search(screen, std::regex(R"(FAIL    broken \(\d+ms, attempt 3\)  exit 3\n)"))) << screen;
  EXPECT_TRUE(has(screen, "Flaky:\n  flaky  passed on attempt 2; attempt 1 FAIL: exit 1\n")) << screen;
  EXPECT_TRUE(std::regex_search(screen, std::regex(R"(Slowest:\n(.*\n)*.*broken \(attempt 3; \d+ms over 3 attempts\)\n)"))) << screen;
  EXPECT_FALSE(has(screen, "sum of test times 0ms")) << screen;
  EXPECT_TRUE(has(screen, "2 tests: 1 FLAKY, 1 FAIL")) << screen;
  EXPECT_TRUE(has(screen, "EXIT=1")) << screen;
}

TEST_F(TerminalTest, TheSameRunPipedToAFileHasNoEscapeCodes) {
  release();  // nothing waits
  dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "quick.pass", "cmd": ["/bin/true"]},
    {"name": "quick.fail", "cmd": ["/bin/sh", "-c", "echo broken; exit 3"]},)" +
                           waiting("slow.a") + "," + waiting("slow.b") + "]}");
  auto r = test::runMpexec({"--no-sandbox", "-j", "4", "--slow", "1", dir_.path() + "/m.json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(has(r.out, "FAIL    quick.fail")) << r.out;
  EXPECT_FALSE(has(r.out, "\x1b")) << r.out;
  EXPECT_FALSE(has(r.out, "\r")) << r.out;
  // --color always colours a file too, still without a status line; NO_COLOR turns auto off on a terminal.
  auto coloured = test::runMpexec({"--no-sandbox", "--color", "always", dir_.path() + "/m.json"});
  EXPECT_TRUE(has(coloured.out, "\x1b[1;31mFAIL\x1b[0m")) << coloured.out;
  EXPECT_FALSE(has(coloured.out, "\r")) << coloured.out;
}

TEST_F(TerminalTest, NoColorTurnsColourOffOnATerminal) {
  release();
  dir_.write("m.json", R"({"version": 1, "tests": [{"name": "quick.fail", "cmd": ["/bin/sh", "-c", "exit 3"]}]})");
  Tmux tmux(dir_.path(), "cd " + shq(dir_.path()) + " && NO_COLOR=1 " + shq(test::mpexecBinary()) +
                             " --no-sandbox m.json; echo \"EXIT=$?\"; sleep 600");
  ASSERT_TRUE(tmux.started()) << tmux.error();
  ASSERT_TRUE(tmux.waitFor([](const std::string& s) { return has(s, "EXIT="); })) << tmux.capture();
  std::string colours = tmux.capture(true);
  EXPECT_TRUE(has(colours, "FAIL    quick.fail")) << colours;
  EXPECT_FALSE(std::regex_search(colours, std::regex("\x1b\\[[0-9;]*31m"))) << colours;
}

}  // namespace
}  // namespace mpexec
