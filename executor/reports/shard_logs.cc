#include "executor/reports/shard_logs.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

#include "executor/printable.h"
#include "sandbox/unique_fd.h"

namespace mpexec {

namespace {

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  for (std::size_t pos = 0; pos <= path.size();) {
    std::size_t end = std::min(path.find('/', pos), path.size());
    std::string_view c = path.substr(pos, end - pos);
    if (!c.empty() && c != ".") out.push_back(c);
    pos = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string_view>& parts, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) out += '/';
    out += parts[i];
  }
  return out;
}

bool plainName(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string_view::npos &&
         s.find('\0') == std::string_view::npos;
}

// Opens `below` (relative, no "..") beneath the directory `dir` for reading; errno says why not (EXDEV or
// ELOOP: a symlink that leaves it). Without openat2 (before Linux 5.6, or filtered), no symlink is followed.
UniqueFd openBeneath(int dir, const std::string& below) {
  constexpr uint64_t kFlags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;  // a FIFO must not block
  open_how how{};
  how.flags = kFlags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = int(syscall(SYS_openat2, dir, below.c_str(), &how, sizeof how));
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return UniqueFd(fd);
  std::vector<std::string_view> parts = components(below);
  if (parts.empty()) return UniqueFd();
  UniqueFd cur(fcntl(dir, F_DUPFD_CLOEXEC, 3));
  for (std::size_t i = 0; cur && i + 1 < parts.size(); ++i)
    cur.reset(openat(cur.get(), std::string(parts[i]).c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!cur) return UniqueFd();
  return UniqueFd(openat(cur.get(), std::string(parts.back()).c_str(), int(kFlags) | O_NOFOLLOW));
}

}  // namespace

LogPlaceOrWhy logPlace(std::string_view run_id, std::string_view log) {
  if (!plainName(run_id)) return {std::nullopt, "its report has no usable run id"};
  if (log.find('\0') != std::string_view::npos) return {std::nullopt, "it holds a NUL character"};
  std::vector<std::string_view> parts = components(log);
  for (std::string_view c : parts)
    if (c == "..") return {std::nullopt, "it holds \"..\""};
  // ".../runs/<id>/logs/FILE...": the first such place.
  for (std::size_t i = 1; i + 2 < parts.size(); ++i) {
    if (parts[i - 1] == "runs" && parts[i] == run_id && parts[i + 1] == "logs") {
      std::string run_dir = (log.starts_with('/') ? "/" : "") + join(parts, 0, i + 1);
      return {LogPlace{std::move(run_dir), join(parts, i + 1, parts.size())}, {}};
    }
  }
  return {std::nullopt, fmt::format("it is not below runs/{}/logs/, the logs of its report's run", run_id)};
}

std::optional<std::string> ShardLogs::read(const std::string& report_path, const std::string& run_id,
                                           const std::string& log) {
  if (log.empty()) return std::nullopt;
  LogPlaceOrWhy at = logPlace(run_id, log);
  if (!at.place) {
    refuse(report_path, log, at.why);
    return std::nullopt;
  }
  const LogPlace& place = *at.place;
  namespace fs = std::filesystem;
  const fs::path report_dir = fs::path(report_path).parent_path();
  std::vector<std::string> run_dirs;
  std::error_code ec;
  if (fs::absolute(report_path, ec).parent_path().filename() == run_id) run_dirs.push_back(report_dir.empty() ? "." : report_dir.string());
  if (place.run_dir.starts_with('/')) {
    run_dirs.push_back(place.run_dir);
  } else {
    for (const std::string& r : roots_) run_dirs.push_back(r + "/" + place.run_dir);
    run_dirs.push_back((report_dir.empty() ? fs::path(".") : report_dir).string() + "/" + place.run_dir);
  }
  for (const std::string& dir : run_dirs) {
    UniqueFd dir_fd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) continue;
    UniqueFd fd = openBeneath(dir_fd.get(), place.below);
    if (!fd) {
      if (errno == ENOENT || errno == ENOTDIR) continue;  // not in this one
      refuse(report_path, log,
             errno == EXDEV || errno == ELOOP ? "a symlink leads out of its run directory" : "it cannot be opened");
      return std::nullopt;
    }
    std::string path = dir + "/" + place.below;
    auto text = readCappedLog(fd.get(), path, max_bytes_);
    if (!text) refuse(report_path, log, "it is not a regular file");
    return text;
  }
  return std::nullopt;
}

void ShardLogs::refuse(const std::string& report_path, const std::string& log, const std::string& why) {
  Refused& r = refused_[report_path];
  if (r.count++ == 0) r.first = fmt::format("{} ({})", printable(log), why);
}

std::vector<std::string> ShardLogs::refusals() const {
  std::vector<std::string> out;
  for (const auto& [report, r] : refused_) {
    out.push_back(fmt::format("{}: {} log path(s) not copied into the JUnit report, e.g. {}", printable(report), r.count,
                              r.first));
  }
  return out;
}

}  // namespace mpexec
