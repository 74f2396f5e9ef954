#include "executor/unit_view.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

namespace mpexec {

bool under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

void projectDirs(const std::string& cwd, const std::vector<std::string>& argv,
                 std::vector<std::string>& out) {
  out.push_back(cwd);
  if (!argv.empty() && argv[0].find('/') != std::string::npos)
    out.push_back(std::filesystem::path(argv[0]).parent_path().string());
}

Result<std::vector<std::string>> hiddenPaths(const std::string& manifest_dir, const sandbox::UnitSpec& spec,
                                             BindPaths& paths, const std::string& project) {
  std::vector<std::string> declared = {manifest_dir};
  for (const auto& c : spec.commands) projectDirs(c.cwd, c.argv, declared);
  std::vector<std::string> candidates;
  for (const auto& d : declared) {
    auto r = paths.get(d);
    if (!r) return r.error();
    candidates.push_back(*r);
  }
  std::vector<std::string> out;
  for (const auto& p : candidates) {
    if (p == "/tmp" || p == "/run") continue;
    bool hidden_by_unit = under(p, "/tmp") || under(p, "/run");
    if (!hidden_by_unit && p != project) continue;
    bool covered = false;
    for (const auto& w : spec.policy.writable) covered |= p == w || under(p, w);
    for (const auto& o : out) covered |= p == o || under(p, o);
    if (covered) continue;
    // A new path may cover earlier ones: keep only the outermost.
    std::erase_if(out, [&](const std::string& o) { return under(o, p); });
    out.push_back(p);
  }
  return out;
}

bool sharedWithOthers(const std::string& dir, const std::string& home) {
  if (dir == "/" || (!home.empty() && (home == dir || under(home, dir)))) return true;
  struct stat st;
  if (stat(dir.c_str(), &st) == 0 && (st.st_mode & S_IWOTH)) return true;
  for (const char* shared : {"/tmp", "/var/tmp", "/run", "/dev/shm"})
    if (under(shared, dir)) return true;
  return false;
}

std::vector<std::string> unsafeDirs(const Manifest& m, const std::string& state_dir) {
  std::vector<std::string> out{state_dir};
  for (const auto& t : m.tests)
    out.insert(out.end(), t.settings.sandbox.writable.begin(), t.settings.sandbox.writable.end());
  for (const auto& [name, g] : m.groups)
    out.insert(out.end(), g.settings.sandbox.writable.begin(), g.settings.sandbox.writable.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

UnitView::UnitView(const Manifest& m, const std::string& state_dir, const std::string& sync_dir,
                   const std::string& home, bool privileged)
    : manifest_dir_(m.dir), state_dir_(state_dir), paths_(unsafeDirs(m, state_dir)) {
  // Before any unit runs: every path a unit gets bound (see bind_paths.h).
  std::vector<std::string> dirs{m.dir};
  auto settings = [&](const Settings& s) {
    for (const auto& w : s.sandbox.writable) paths_.add(w);
  };
  for (const auto& t : m.tests) {
    settings(t.settings);
    projectDirs(t.settings.cwd, t.cmd, dirs);
  }
  for (const auto& [name, g] : m.groups) {
    settings(g.settings);
    projectDirs(g.settings.cwd, g.setup, dirs);
    projectDirs(g.settings.cwd, g.teardown, dirs);
  }
  for (const auto& d : dirs) paths_.add(d);
  if (!sync_dir.empty()) {
    auto sync = paths_.get(sync_dir);
    sync_dir_ = sync ? *sync : sync_dir;
  }
  hidden_ = {state_dir};
  if (!privileged && !home.empty()) {
    for (const char* private_dir : {"/.ssh", "/.gnupg"}) {
      auto resolved = paths_.get(home + private_dir);
      struct stat st;
      if (resolved && stat(resolved->c_str(), &st) == 0 && S_ISDIR(st.st_mode)) hidden_.push_back(*resolved);
    }
  }
  auto project = paths_.get(m.dir);
  if (project && !sharedWithOthers(*project, home)) project_dir_ = *project;
  // A state directory that is the project itself (--state-dir .) cannot be covered whole: the units need
  // the project, whose bind would go on top of the cover (read-only, noexec) and show every run's records.
  // What no unit may see is its runs.
  if (project && *project == state_dir) hidden_[0] = state_dir + "/runs";
}

std::optional<std::string> UnitView::resolveWritable(sandbox::Policy& policy, bool own_ids) {
  for (std::string& w : policy.writable) {
    auto resolved = paths_.get(w);
    if (!resolved) return "sandbox: " + resolved.error().message();
    // The state directory is never a unit's to write (DESIGN §4): a bind there would go on top of its
    // cover and show every unit's logs and output directories.
    if (*resolved == state_dir_ || under(*resolved, state_dir_))
      return fmt::format(
          "sandbox: the writable path {} is in mpexec's state directory {}, which no unit may "
          "see; give --state-dir a directory outside it",
          *resolved, state_dir_);
    // Bound as the unit's own, it would give the unit every file and socket the invoking user has there.
    if (own_ids && sharedWithOthers(*resolved, ""))
      return fmt::format("sandbox: the writable path {} holds every program's files, which would be the unit's "
                         "own; a unit's /tmp is its own already, or name a directory of the project's",
                         *resolved);
    w = *resolved;
  }
  return std::nullopt;
}

Result<std::vector<std::string>> UnitView::visible(const sandbox::UnitSpec& spec, bool own_ids) {
  return hiddenPaths(manifest_dir_, spec, paths_, own_ids ? project_dir_ : std::string());
}

}  // namespace mpexec
