#pragma once
// The escape suite's harness: runs the real mpexec binary (sandbox on) on a manifest built in code, and
// reads back the JSON report and the logs. Attack programs are written and compiled at test time into a
// directory that the units get as a `writable` bind, so they can run inside the sandbox.

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec::test::escape {

namespace json = boost::json;

/// One test of a manifest: `name` runs `/bin/sh -c script` (bash when `bash` is set), with extra keys.
inline json::object shTest(const std::string& name, const std::string& script, json::object extra = {},
                           bool bash = false) {
  json::object t = std::move(extra);
  t["name"] = name;
  t["cmd"] = json::array{bash ? "/bin/bash" : "/bin/sh", "-c", script};
  return t;
}

inline json::object argvTest(const std::string& name, const std::vector<std::string>& argv,
                             json::object extra = {}) {
  json::object t = std::move(extra);
  t["name"] = name;
  json::array cmd;
  for (const auto& a : argv) cmd.emplace_back(a);
  t["cmd"] = std::move(cmd);
  return t;
}

/// A marker unique to this test process and `what`, for finding processes by their argv afterwards.
inline std::string marker(const std::string& what) {
  return "mpexec-escape-" + what + "-" + std::to_string(getpid());
}

/// Polls `done` every 10 ms for up to `timeout_s`; returns its last value.
template <class F>
bool eventually(F done, double timeout_s = 10) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

/// A host process (sleep 30) whose argv[0] is `mark`; killed and reaped on destruction.
class HostProcess {
 public:
  explicit HostProcess(const std::string& mark) {
    std::string arg0 = mark, secs = "30";
    char* argv[] = {arg0.data(), secs.data(), nullptr};
    char* envp[] = {nullptr};
    if (posix_spawn(&pid_, "/bin/sleep", nullptr, nullptr, argv, envp) != 0) pid_ = -1;
  }
  ~HostProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;
  pid_t pid() const { return pid_; }
  /// Still running (not a zombie: we have not reaped it, so a dead one would be a zombie).
  bool alive() const {
    if (pid_ <= 0) return false;
    int status;
    return waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  pid_t pid_ = -1;
};

/// A directory outside /tmp standing for the host's own files (a unit's /tmp is its own, so the host's /tmp
/// would prove nothing), removed afterwards.
class HostDir {
 public:
  HostDir() {
    char tmpl[] = "/var/tmp/mpexec-hostile-XXXXXX";
    if (mkdtemp(tmpl)) path_ = tmpl;
    chmod(path_.c_str(), 0755);
  }
  ~HostDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }

 private:
  std::string path_;
};

/// A listening Unix socket of the host's (a path, or "@name" in the abstract namespace), closed on
/// destruction. accepted() tells whether anybody connected.
class HostSocket {
 public:
  HostSocket(const std::string& name, mode_t mode) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    socklen_t len = sizeof a;
    if (name[0] == '@') {
      memcpy(a.sun_path + 1, name.data() + 1, name.size() - 1);
      len = socklen_t(offsetof(sockaddr_un, sun_path) + name.size());
    } else {
      snprintf(a.sun_path, sizeof a.sun_path, "%s", name.c_str());
    }
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0 && listen(fd_, 8) == 0;
    if (ok_ && name[0] != '@') ok_ = chmod(name.c_str(), mode) == 0;
  }
  ~HostSocket() { close(fd_); }
  bool ok() const { return ok_; }
  bool accepted() const {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

/// What the probe run learned about this host, once per test binary.
struct HostSandbox {
  bool available = false;
  std::string why;                  ///< mpexec's output when the sandbox is unavailable
  std::vector<std::string> limits;  ///< the report's run.limits: "memory", "pids" or "rlimit"
  bool has(const std::string& l) const {
    for (const auto& x : limits)
      if (x == l) return true;
    return false;
  }
};

inline const HostSandbox& hostSandbox() {
  static HostSandbox h = [] {
    HostSandbox r;
    TempDir d;
    std::string m = d.write("probe.json", R"({"version": 1, "tests": [{"name": "p", "cmd": ["/bin/true"]}]})");
    auto f = runMpexec({"-q", "--json", d.path() + "/r.json", m}, 60);
    if (f.exit_code != 0) {
      r.why = "exit " + std::to_string(f.exit_code) + ": " + f.out;
      return r;
    }
    r.available = true;
    try {
      auto rep = readJson(d.path() + "/r.json");
      for (const auto& l : rep.at("run").as_object().at("limits").as_array())
        r.limits.emplace_back(l.as_string());
    } catch (const std::exception& e) {
      r.why = e.what();
    }
    return r;
  }();
  return h;
}

/// Base fixture: skips without a sandbox; gives a manifest directory, a tools directory (bound writable
/// into units that ask for it) and helpers over the report.
class EscapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!hostSandbox().available) GTEST_SKIP() << "no sandbox on this host: " << hostSandbox().why;
  }

  /// Writes the manifest {"version": 1, "defaults": defaults, "tests": tests} and runs
  /// `mpexec --json report.json args... manifest`.
  Finished run(const json::array& tests, const std::vector<std::string>& args = {}, json::object defaults = {},
               double timeout_s = 60) {
    std::string m = writeManifest(tests, std::move(defaults));
    std::vector<std::string> all = {"--json", reportPath()};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back(m);
    return runMpexec(all, timeout_s);
  }
  std::string writeManifest(const json::array& tests, json::object defaults = {}) {
    json::object m{{"version", 1}, {"tests", tests}};
    if (!defaults.empty()) m["defaults"] = std::move(defaults);
    return dir_.write("m.json", json::serialize(m));
  }
  std::string reportPath() const { return dir_.path() + "/report.json"; }
  json::object report() const { return readJson(reportPath()); }

  static std::string str(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : "";
  }
  static int64_t num(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_number() ? v->to_number<int64_t>() : -1;
  }
  std::string outcome(const json::object& rep, const std::string& test) const {
    return str(testEntry(rep, test), "outcome");
  }
  /// The test's captured stdout and stderr.
  /// A test's log; relative paths are relative to the manifest's directory (`manifest_dir`, else dir_).
  std::string log(const json::object& rep, const std::string& test, const std::string& manifest_dir = {}) const {
    std::string rel = str(testEntry(rep, test), "log");
    if (rel.empty()) return "";
    return readFile(rel[0] == '/' ? rel : (manifest_dir.empty() ? dir_.path() : manifest_dir) + "/" + rel);
  }

  /// A `sandbox` object that binds the tools directory (and `more`) read-write.
  json::object sandboxWithTools(json::object more = {}) const {
    json::array w{tools_.path()};
    if (auto* extra = more.if_contains("writable")) {
      for (const auto& x : extra->as_array()) w.push_back(x);
    }
    more["writable"] = std::move(w);
    return more;
  }
  const std::string& tools() const { return tools_.path(); }

  /// Compiles C `source` with `cc flags` into the tools directory; returns the binary's path, or "" with
  /// the compiler's output in `*why`.
  std::string compile(const std::string& name, const std::string& source, const std::string& flags,
                      std::string* why) const {
    std::string src = tools_.write(name + ".c", source);
    std::string bin = tools_.path() + "/" + name;
    std::string out = tools_.path() + "/" + name + ".cc-out";
    std::string cmd = "cc " + flags + " -o '" + bin + "' '" + src + "' >'" + out + "' 2>&1";
    int rc = system(cmd.c_str());
    if (rc != 0 || access(bin.c_str(), X_OK) != 0) {
      if (why) *why = "cc " + flags + " failed: " + readFile(out);
      return "";
    }
    return bin;
  }

  static bool contains(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
  }

  TempDir dir_;
  TempDir tools_;
};

}  // namespace mpexec::test::escape
