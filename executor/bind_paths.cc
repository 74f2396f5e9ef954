#include "executor/bind_paths.h"

#include <limits.h>
#include <algorithm>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace mpexec {
namespace {

bool within(const std::string& path, const std::string& dir) {
  return path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/' || dir == "/");
}

/// The components of `path`, without empty ones and ".".
std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> parts;
  for (size_t pos = 0; pos <= path.size();) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(pos, end - pos);
    pos = end + 1;
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
  }
  return parts;
}

std::string join(const std::string& dir, const std::string& name) {
  std::string out = dir;
  if (out.back() != '/') out += '/';
  out += name;
  return out;
}

}  // namespace

BindPaths::BindPaths(const std::vector<std::string>& unsafe) {
  for (const std::string& u : unsafe) {
    char real[PATH_MAX];
    unsafe_.push_back(realpath(u.c_str(), real) ? std::string(real) : u);
  }
}

void BindPaths::add(const std::string& path) {
  if (!resolved_.count(path)) resolved_.emplace(path, resolve(path));
}

Result<std::string> BindPaths::get(const std::string& path) {
  add(path);
  return resolved_.at(path);
}

// realpath(3) one component at a time, so that each symlink is seen where it lies.
Result<std::string> BindPaths::resolve(const std::string& path) const {
  if (path.empty() || path[0] != '/') return Error{"bind path", EINVAL, path + " is not absolute"};
  std::vector<std::string> todo = split(path);
  std::reverse(todo.begin(), todo.end());  // a stack: the next component last
  std::string cur = "/";
  int links = 0;
  bool missing = false;
  while (!todo.empty()) {
    std::string part = std::move(todo.back());
    todo.pop_back();
    if (part == "..") {
      cur.resize(std::max<size_t>(1, cur.rfind('/')));
      continue;
    }
    std::string next = join(cur, part);
    struct stat st;
    if (missing || lstat(next.c_str(), &st) != 0) {
      missing = true;  // made later (by a setup, say): the sandbox looks for it without following symlinks
      cur = next;
      continue;
    }
    if (!S_ISLNK(st.st_mode)) {
      cur = next;
      continue;
    }
    for (const std::string& u : unsafe_)
      if (within(next, u))
        return Error{"bind path", ELOOP,
                     fmt::format("{} leads through the symlink {}, inside {}, which units may write: name the "
                                 "directory it points to instead",
                                 path, next, u)};
    if (++links > 40) return Error{"bind path", ELOOP, path};
    char target[PATH_MAX];
    ssize_t n = readlink(next.c_str(), target, sizeof target - 1);
    if (n < 0) return sysError("readlink", next);
    target[n] = '\0';
    std::vector<std::string> more = split(target);
    for (auto it = more.rbegin(); it != more.rend(); ++it) todo.push_back(*it);
    if (target[0] == '/') cur.resize(1);  // "/" (an assignment here trips GCC 12's -Wrestrict)
  }
  return cur;
}

}  // namespace mpexec
