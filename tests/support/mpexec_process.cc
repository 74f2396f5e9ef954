#include "tests/support/mpexec_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace mpexec::test {

int shell(const std::string& cmd, std::string* out) {
  std::string full = "(" + cmd + ") 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  std::string text;
  while (size_t n = fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  int st = pclose(p);
  if (out) *out = text;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string mpexecBinary() {
  const char* bin = getenv("MPEXEC_BIN");
  return bin && *bin ? bin : "build/mpexec";
}

pid_t startMpexec(const std::vector<std::string>& args, const std::string& out_file) {
  std::vector<std::string> argv = {mpexecBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  return pid;
}

Finished waitMpexec(pid_t pid, const std::string& out_file, double timeout_s) {
  Finished f;
  int status = 0;
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) break;
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (double(now.tv_sec - start.tv_sec) > timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      f.out = "mpexec hung and was killed\n";
      break;
    }
    usleep(5000);
  }
  if (WIFEXITED(status)) f.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) f.signal = WTERMSIG(status);
  f.out += readFile(out_file);
  return f;
}

Finished runMpexec(const std::vector<std::string>& args, double timeout_s) {
  char tmpl[] = "/tmp/mpexec-out-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  // Removed however this ends: startMpexec throws when there is no binary to run.
  struct Unlink {
    const char* path;
    ~Unlink() { unlink(path); }
  } cleanup{tmpl};
  return waitMpexec(startMpexec(args, tmpl), tmpl, timeout_s);
}

std::string numberedTestsManifest(const std::string& prefix, int count, const std::string& cmd_json) {
  std::string tests;
  for (int i = 0; i < count; ++i)
    tests += std::string(i ? "," : "") + R"({"name": ")" + prefix + std::to_string(i) + R"(", "cmd": )" + cmd_json + "}";
  return R"({"version": 1, "tests": [)" + tests + "]}";
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

boost::json::object readJson(const std::string& path) {
  boost::system::error_code ec;
  auto v = boost::json::parse(readFile(path), ec);
  if (ec || !v.is_object()) throw std::runtime_error("not a JSON object: " + path);
  return v.as_object();
}

std::vector<pid_t> processesWith(const std::string& marker) {
  std::vector<pid_t> found;
  DIR* d = opendir("/proc");
  if (!d) return found;
  while (dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::string base = std::string("/proc/") + e->d_name;
    std::string cmd = readFile(base + "/cmdline");
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(marker) == std::string::npos) continue;
    std::string stat = readFile(base + "/stat");
    auto paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') continue;
    found.push_back(pid);
  }
  closedir(d);
  return found;
}

std::vector<std::pair<pid_t, std::string>> childrenOf(pid_t parent) {
  std::vector<std::pair<pid_t, std::string>> found;
  DIR* d = opendir("/proc");
  if (!d) return found;
  while (dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::string base = std::string("/proc/") + e->d_name;
    std::string stat = readFile(base + "/stat");
    auto paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 4 >= stat.size() || stat[paren + 2] == 'Z') continue;
    if (atoi(stat.c_str() + paren + 4) != parent) continue;  // "pid (comm) S ppid ..."
    found.emplace_back(pid, readFile(base + "/cmdline"));
  }
  closedir(d);
  return found;
}

bool stillRuns(const std::pair<pid_t, std::string>& child) {
  std::string base = "/proc/" + std::to_string(child.first);
  std::string stat = readFile(base + "/stat");
  auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z') return false;
  return readFile(base + "/cmdline") == child.second;
}

const boost::json::object& testEntry(const boost::json::object& report, const std::string& name) {
  for (const auto& t : report.at("tests").as_array())
    if (t.as_object().at("name").as_string() == name) return t.as_object();
  throw std::runtime_error("no test named " + name + " in the report");
}

ScopedEnv::ScopedEnv(const char* name, const std::string& value) : name_(name) {
  const char* old = getenv(name);
  had_ = old != nullptr;
  if (had_) old_ = old;
  setenv(name, value.c_str(), 1);
}

ScopedEnv::~ScopedEnv() {
  if (had_) {
    setenv(name_, old_.c_str(), 1);
  } else {
    unsetenv(name_);
  }
}

}  // namespace mpexec::test
