#include "executor/preload.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "executor/import/import_python.h"
#include "executor/interrupt.h"

namespace mpexec {

namespace {

constexpr const char* kLibrary = "libmpexec-spawner.so";
constexpr int kWaitSliceMs = 50;  // how soon a unit waiting for its interpreter notices a signal
constexpr int kReadyTimeoutMs = 20000;  // an interpreter that needs longer to import pytest serves no unit

// Read by python/mpexec/_preload.py in each command's process, so not part of the interpreter's start.
constexpr std::string_view kRuntimeVars[] = {
    "PYTHONPATH",        "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPYCACHEPREFIX", "PYTHONBREAKPOINT",
    "PYTHONASYNCIODEBUG", "PYTHONSTARTUP",          "PYTHONUSERBASE",   "PYTHONNOUSERSITE",    "PYTHONSAFEPATH",
};
// Read at the interpreter's start, and safe to give an interpreter that runs with mpexec's privileges: the
// preloaded interpreter starts with them. Any other PYTHON* variable (PYTHONHOME, PYTHONPLATLIBDIR: where it
// looks for its own files; PYTHONINSPECT: what it does after the command; one of a later Python) keeps
// the command exec'd.
constexpr std::string_view kStartupVars[] = {
    "PYTHONHASHSEED",     "PYTHONMALLOC",      "PYTHONMALLOCSTATS",   "PYTHONDEVMODE",
    "PYTHONUTF8",         "PYTHONIOENCODING",  "PYTHONOPTIMIZE",      "PYTHONWARNINGS",
    "PYTHONFAULTHANDLER", "PYTHONTRACEMALLOC", "PYTHONCOERCECLOCALE", "PYTHONINTMAXSTRDIGITS",
    "PYTHONNODEBUGRANGES", "PYTHONVERBOSE",    "PYTHONDEBUG",         "PYTHONPROFILEIMPORTTIME",
    "PYTHONWARNDEFAULTENCODING",
};
constexpr std::string_view kLocaleVars[] = {"LANG", "LC_ALL", "LC_CTYPE"};

// The first code the interpreter runs, started as `PY -S -s -B -c BOOTSTRAP LIBRARY PACKAGE_DIR`: no site
// (so no .pth file runs) until every directory on sys.path and every site directory is checked as
// untrustedPath() and writableOverlap() check (the run's writable paths, real, one a line, in
// MPEXEC_PRELOAD_WRITABLE), no user site, no cwd. Then python/mpexec/_preload.py.
constexpr const char* kBootstrap = R"(import os, sys
writable = [w for w in os.environ.pop('MPEXEC_PRELOAD_WRITABLE', '').split('\n') if w]
def under(a, b):
    return a == b or a.startswith(b.rstrip('/') + '/')
def untrusted(p, uid=os.getuid()):
    p, leaf = os.path.realpath(p), True
    for w in writable:
        if under(p, w) or under(w, p):
            return '%s is a writable path of the run, or holds one: %s' % (p, w)
    while True:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            st = None  # the nearest directory that exists decides who could make it
        except OSError as e:
            return '%s: %s' % (p, e.strerror)
        if st is not None:
            if st.st_uid not in (0, uid):
                return '%s belongs to uid %d' % (p, st.st_uid)
            if st.st_mode & 0o022 and (leaf or not st.st_mode & 0o1000):
                return '%s is writable by others than its owner' % p
            leaf = False
        if p == '/':
            return None
        p = os.path.dirname(p)
package = sys.argv[2]
sys.path[:] = [p for p in sys.path if p]
if package:
    sys.path.insert(0, package)
def check(paths):
    for p in paths:
        why = untrusted(p)
        if why:
            sys.exit('mpexec: no preloaded interpreter %s: %s; its units start it afresh' % (sys.executable, why))
check(sys.path)
import site
check(site.getsitepackages())
site.main()
check(sys.path)
import mpexec._preload
mpexec._preload.main(sys.argv[1:])
)";

int64_t nowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

bool listed(std::string_view name, const auto& list) {
  return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

std::string checkOne(const std::string& path, const struct stat& st, bool sticky_ok) {
  if (st.st_uid != 0 && st.st_uid != getuid()) return fmt::format("{} belongs to uid {}", path, st.st_uid);
  if ((st.st_mode & 022) != 0 && !(sticky_ok && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX)))
    return fmt::format("{} is writable by others than its owner", path);
  return {};
}

}  // namespace

std::string untrustedPath(const std::string& path, bool whole_directory) {
  char real[PATH_MAX];
  if (!realpath(path.c_str(), real)) return fmt::format("{}: {}", path, strerror(errno));
  std::string p = real;
  for (bool leaf = true;; leaf = false) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0) return fmt::format("{}: {}", p, strerror(errno));
    if (std::string why = checkOne(p, st, !leaf); !why.empty()) return why;
    if (p == "/") break;
    size_t slash = p.rfind('/');
    p = slash == 0 ? "/" : p.substr(0, slash);
  }
  if (!whole_directory) return {};
  std::vector<std::string> dirs{real};
  for (size_t i = 0; i < dirs.size(); ++i) {
    DIR* d = opendir(dirs[i].c_str());
    if (!d) return fmt::format("{}: {}", dirs[i], strerror(errno));
    std::string why;
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string child = dirs[i] + "/" + name;
      struct stat st;
      if (lstat(child.c_str(), &st) != 0) continue;  // gone meanwhile
      why = S_ISLNK(st.st_mode) ? fmt::format("{} is a symbolic link", child) : checkOne(child, st, false);
      if (!why.empty()) break;
      if (S_ISDIR(st.st_mode)) dirs.push_back(child);
    }
    closedir(d);
    if (!why.empty()) return why;
  }
  return {};
}

std::string writableOverlap(const std::string& path, const std::vector<std::string>& writable) {
  char real[PATH_MAX];
  std::string p = realpath(path.c_str(), real) ? std::string(real) : path;
  auto under = [](const std::string& a, const std::string& b) {
    return a == b || (a.starts_with(b) && (b.ends_with('/') || a[b.size()] == '/'));
  };
  for (const std::string& w : writable)
    if (under(p, w) || under(w, p)) return fmt::format("{} is a writable path of the run, or holds one: {}", p, w);
  return {};
}

std::optional<PreloadKey> preloadKey(const sandbox::CommandSpec& cmd, std::string* why) {
  auto refuse = [&](std::string reason) -> std::optional<PreloadKey> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (cmd.argv.empty() || cmd.argv[0].empty() || cmd.argv[0][0] != '/')
    return refuse("the command's interpreter is not an absolute path");
  PreloadKey key;
  key.interpreter = cmd.argv[0];
  for (const std::string& kv : cmd.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq + 1 == kv.size()) continue;  // empty: unset, to Python
    std::string_view name(kv.data(), eq);
    bool python = name.starts_with("PYTHON");
    if (python && !listed(name, kRuntimeVars) && !listed(name, kStartupVars))
      return refuse(fmt::format("{} is set", name));
    if ((python && listed(name, kStartupVars)) || listed(name, kLocaleVars)) key.startup_env.push_back(kv);
  }
  std::sort(key.startup_env.begin(), key.startup_env.end());
  return key;
}

Preloads::Preloads(const sandbox::Context& ctx, int netns_ahead, std::string exe, std::vector<std::string> writable)
    : ctx_(ctx), netns_ahead_(netns_ahead), exe_(std::move(exe)) {
  for (const std::string& w : writable) {
    char real[PATH_MAX];
    writable_.push_back(realpath(w.c_str(), real) ? std::string(real) : w);
  }
}

Preloads::~Preloads() { close(); }

Preloads::Entry Preloads::start(const PreloadKey& key) {
  Entry e;
  auto refuse = [&](std::string why) {
    e.refusal = std::move(why);
    return std::move(e);
  };
  std::string library = sandbox::findBesideExecutable(kLibrary);
  if (library.empty()) return refuse(fmt::format("no {} beside mpexec", kLibrary));
  // A path refused is said on stderr, as the bootstrap says its own: the user can fix it.
  auto unsafe = [&](std::string why) {
    fmt::print(stderr, "mpexec: no preloaded interpreter {}: {}; its units start it afresh\n", key.interpreter, why);
    return refuse(std::move(why));
  };
  auto checked = [&](const std::string& path, bool whole_directory = false) {
    std::string why = untrustedPath(path, whole_directory);
    return why.empty() ? writableOverlap(path, writable_) : why;
  };
  if (std::string why = checked(library); !why.empty()) return unsafe(why);
  if (access(key.interpreter.c_str(), X_OK) != 0)
    return refuse(fmt::format("{}: {}", key.interpreter, strerror(errno)));
  // The interpreter runs with mpexec's privileges: it, and the directory a venv's pyvenv.cfg would be
  // read from, must be as safe as the package.
  if (std::string why = checked(key.interpreter); !why.empty()) return unsafe(why);
  std::string parent = std::filesystem::path(key.interpreter).parent_path().string();
  if (std::string why = checked(parent); !why.empty()) return unsafe(why);
  // Read at its start: pyvenv.cfg beside it or one directory up (a venv's bin/..), where its standard
  // library is, and REAL_PATH._pth beside its real path, which is its sys.path.
  char real[PATH_MAX];
  std::string pth = realpath(key.interpreter.c_str(), real) ? std::string(real) + "._pth" : std::string();
  for (const std::string& read : {parent + "/pyvenv.cfg",
                                  std::filesystem::path(parent).parent_path().string() + "/pyvenv.cfg", pth}) {
    struct stat st;
    if (!read.empty() && lstat(read.c_str(), &st) == 0)
      if (std::string why = checked(read); !why.empty()) return unsafe(why);
  }
  std::string package;
  if (auto dir = sourceTreePackageDir(exe_)) {
    package = *dir;
    // All of it, not only mpexec/: it comes first on the interpreter's sys.path, where a pytest.py beside
    // the package would shadow pytest.
    if (std::string why = checked(package, true); !why.empty()) return unsafe(why);
  }
  std::vector<std::string> env{"PATH=/usr/bin:/bin",
                               fmt::format("MPEXEC_PRELOAD_WRITABLE={}", fmt::join(writable_, "\n"))};
  env.insert(env.end(), key.startup_env.begin(), key.startup_env.end());
  // For the tests alone: the interpreter starts its imports once this path exists (python/mpexec/_preload.py).
  if (const char* gate = getenv("MPEXEC_TEST_PRELOAD_GATE"); gate && *gate)
    env.push_back(std::string("MPEXEC_TEST_PRELOAD_GATE=") + gate);
  auto launched = sandbox::Spawner::launchPreloaded(
      {key.interpreter, "-S", "-s", "-B", "-c", kBootstrap, library, package}, env);
  if (!launched) return refuse(launched.error().message());
  auto served = (*launched)->serve(ctx_, netns_ahead_);
  e.spawner = std::move(*launched);
  if (!served) {
    end(e, served.error().message());
    return e;
  }
  e.started_ms = nowMs();
  return e;
}

void Preloads::end(Entry& e, std::string why) {
  // Not ready: it has not reached the spawner's loop, so it has made no namespace or helper to orphan.
  if (!e.ready && e.spawner && e.spawner->pid() > 0) kill(e.spawner->pid(), SIGKILL);
  e.spawner.reset();  // reaps it
  e.refusal = std::move(why);
}

void Preloads::settle(const PreloadKey& key, Entry& e) {
  if (!e.spawner || e.ready) return;
  std::optional<bool> ready = e.spawner->readyNow();
  if (ready == std::nullopt && nowMs() - e.started_ms < kReadyTimeoutMs) return;
  if (ready == true) {
    e.ready = true;
    return;
  }
  end(e, fmt::format("{} did not start as a preloaded interpreter", key.interpreter));
}

void Preloads::startAhead(const sandbox::CommandSpec& cmd) {
  if (ctx_.isolation() != sandbox::Isolation::Namespaces) return;
  auto key = preloadKey(cmd, nullptr);
  if (key && !entries_.count(*key)) entries_.emplace(*key, start(*key));
}

sandbox::Spawner* Preloads::spawnerFor(const sandbox::CommandSpec& cmd) {
  if (ctx_.isolation() != sandbox::Isolation::Namespaces) return nullptr;
  std::string why;
  auto key = preloadKey(cmd, &why);
  if (!key) {
    ++refused_[why];
    return nullptr;
  }
  auto it = entries_.find(*key);
  if (it == entries_.end()) it = entries_.emplace(*key, start(*key)).first;
  Entry& e = it->second;
  settle(it->first, e);
  // A unit due while its interpreter still starts waits for it: exec'd, it would pay a whole pytest start,
  // which on a busy machine costs more than the wait, and competes with the interpreter's own imports. A
  // signal ends the wait at once: that unit then execs, and the dispatch loop ends the run.
  while (e.spawner && !e.ready && !InterruptWatch::pending()) {
    if (e.spawner->awaitReady(kWaitSliceMs))
      e.ready = true;
    else
      settle(it->first, e);
  }
  if (!e.spawner) return nullptr;
  if (!e.ready) {
    ++e.early;
    return nullptr;
  }
  ++e.units;
  return e.spawner.get();
}

void Preloads::close() {
  for (auto& [key, e] : entries_) {
    settle(key, e);
    if (e.ready) e.spawner->close();
    else if (e.spawner) end(e, "still starting when the run's last unit had started");
  }
}

std::vector<std::string> Preloads::notes() const {
  std::vector<std::string> out;
  for (const auto& [key, e] : entries_) {
    std::string env = key.startup_env.empty() ? std::string() : fmt::format(" ({})", fmt::join(key.startup_env, " "));
    std::string early = e.early ? fmt::format(" ({} exec'd while it started)", e.early) : std::string();
    if (e.spawner)
      out.push_back(fmt::format("preloaded interpreter {}{}: {} units{}", key.interpreter, env, e.units, early));
    else out.push_back(fmt::format("no preloaded interpreter {}{}: {}; its units exec'd it", key.interpreter, env,
                                   e.refusal));
  }
  for (const auto& [why, n] : refused_) out.push_back(fmt::format("{} preload commands exec'd: {}", n, why));
  return out;
}

}  // namespace mpexec
