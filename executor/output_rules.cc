#include "executor/output_rules.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <re2/re2.h>

#include "executor/printable.h"
#include "sandbox/unique_fd.h"

namespace mpexec {

namespace {

constexpr std::size_t kMaxLineShown = 200;

// CTest drops a line of output that carries one of its tags (cmCTestRunTest::CheckOutput): the whole line
// goes, whatever else it holds, when the opening tag comes before a closing one.
bool ctestTagLine(std::string_view line) {
  if (line.find("<CTest") == std::string_view::npos) return false;
  for (auto [open, close] : {std::pair{"<CTestDetails>", "</CTestDetails>"}, std::pair{"<CTestLabel>", "</CTestLabel>"}}) {
    std::size_t at = line.find(open);
    if (at != std::string_view::npos && line.find(close, at + std::string_view(open).size()) != std::string_view::npos)
      return true;
  }
  return false;
}

}  // namespace

Result<OutputPattern> compileOutputPattern(const std::string& text) {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingLatin1);
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(text, options);
  if (!re->ok()) return Error{{}, 0, re->error()};
  return OutputPattern{text, std::move(re)};
}

std::string outputForRules(std::string_view captured) {
  std::string out;
  out.reserve(captured.size() + 1);
  std::size_t begin = 0;
  while (begin < captured.size()) {
    std::size_t end = captured.find_first_of(std::string_view("\n\0", 2), begin);
    if (end == std::string_view::npos) end = captured.size();
    std::string_view line = captured.substr(begin, end - begin);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!ctestTagLine(line)) {
      out.append(line);
      out.push_back('\n');
    }
    begin = end + 1;
  }
  return out;
}

std::optional<PatternMatch> firstMatch(const std::vector<OutputPattern>& patterns, std::string_view output) {
  for (const OutputPattern& p : patterns) {
    re2::StringPiece whole(output.data(), output.size()), match;
    if (!p.re->Match(whole, 0, whole.size(), RE2::UNANCHORED, &match, 1)) continue;
    std::size_t at = std::size_t(match.data() - whole.data());
    std::size_t from = at == 0 ? std::string_view::npos : output.rfind('\n', at - 1);
    from = from == std::string_view::npos ? 0 : from + 1;
    std::size_t to = std::min(output.find('\n', at), output.size());
    std::string_view line = output.substr(from, to - from);
    // Output is any bytes; a reason goes to the terminal and into reports that must stay valid UTF-8.
    std::string shown = printable(line.substr(0, kMaxLineShown));
    if (line.size() > kMaxLineShown) shown += "...";
    return PatternMatch{&p, std::move(shown)};
  }
  return std::nullopt;
}

Result<std::string> readOutputForRules(int dir_fd, const std::string& name) {
  UniqueFd fd(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd) return sysError("open " + name);
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return sysError("fstat " + name);
  if (!S_ISREG(st.st_mode)) return Error{name, 0, "not a regular file"};
  if (std::size_t(st.st_size) > kMaxRuleOutputBytes)
    return Error{name, 0, fmt::format("{} bytes, more than the {} MiB the output rules read", st.st_size,
                                      kMaxRuleOutputBytes >> 20)};
  std::string text;
  text.resize(std::size_t(st.st_size));
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("read " + name);
    if (n == 0) break;
    got += std::size_t(n);
  }
  text.resize(got);
  return text;
}

}  // namespace mpexec
