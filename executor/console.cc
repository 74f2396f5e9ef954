#include "executor/console.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "executor/printable.h"

namespace mpexec {

std::string formatDuration(int64_t us) {
  if (us < 0) return "-";
  if (us < 1'000'000) return fmt::format("{}ms", us / 1000);
  if (us < 60'000'000) return fmt::format("{:.2f}s", double(us) / 1e6);
  return fmt::format("{}m{:02}s", us / 60'000'000, (us / 1'000'000) % 60);
}

Console::Console(const Manifest& m, size_t planned, OutputMode output, int verbosity, std::string log_root,
                 FILE* out)
    : m_(m), planned_(planned), output_(output), verbosity_(verbosity), log_root_(std::move(log_root)), out_(out),
      tty_(isatty(fileno(out)) && verbosity < 2) {}

void Console::clearStatus() {
  if (status_shown_) fmt::print(out_, "\r\x1b[K");
  status_shown_ = false;
}

void Console::drain(size_t test, bool all) {
  auto it = streams_.find(test);
  if (it == streams_.end()) return;
  Stream& st = it->second;
  std::ifstream in(st.path, std::ios::binary);
  if (!in) return;
  in.seekg(std::streamoff(st.offset));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  st.offset += chunk.size();
  st.partial += chunk;
  size_t start = 0, nl;
  const std::string name = printable(m_.tests[test].name);
  bool printed = false;
  while ((nl = st.partial.find('\n', start)) != std::string::npos) {
    if (!printed) clearStatus();
    printed = true;
    fmt::print(out_, "{}: {}\n", name, printable(std::string_view(st.partial).substr(start, nl - start)));
    start = nl + 1;
  }
  st.partial.erase(0, start);
  if (all && !st.partial.empty()) {
    clearStatus();
    fmt::print(out_, "{}: {}\n", name, printable(st.partial));
    st.partial.clear();
  }
}

void Console::tick() {
  for (auto& [test, _] : streams_) drain(test, false);
  fflush(out_);
}

void Console::testStarted(size_t test, const std::string&, int) {
  ++running_;
  if (output_ == OutputMode::Streamed && log_of_) streams_[test].path = log_root_ + "/" + log_of_(test);
  if (!tty_ || verbosity_ == 0) return;
  fmt::print(out_, "\r[{}/{} {} running] {}\x1b[K", finished_, planned_, running_, printable(m_.tests[test].name));
  status_shown_ = true;
  fflush(out_);
}

void Console::printLog(const TestRecord& r, bool bounded) {
  std::ifstream in(log_root_ + "/" + r.log, std::ios::binary);
  if (!in) return;
  // Enough to see why it failed; the whole log is in the file named in the report.
  constexpr size_t kMax = 64 * 1024;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty()) return;
  if (bounded && text.size() > kMax) {
    fmt::print(out_, "  ... {} bytes cut, see {}\n", text.size() - kMax, r.log);
    text.erase(0, text.size() - kMax);
  }
  fmt::print(out_, "{}{}", printable(text, Newlines::Keep), text.back() == '\n' ? "" : "\n");
}

void Console::testFinished(size_t test, const TestRecord& r) {
  bool streamed = streams_.count(test) > 0;
  if (streamed) {
    drain(test, true);
    streams_.erase(test);
  }
  ++finished_;
  if (running_ > 0) --running_;
  bool failed = isFailure(r.outcome);
  bool show_line = failed || (verbosity_ > 0 && (!tty_ || output_ == OutputMode::All));
  bool show_log = (failed && output_ == OutputMode::Errors) || output_ == OutputMode::All ||
                  output_ == OutputMode::Streamed;
  if (verbosity_ == 0 && !(failed && output_ == OutputMode::Errors)) show_log = false;
  const TestSpec& t = m_.tests[test];
  if (show_line || show_log) {
    clearStatus();
    std::string dur = r.start_us >= 0 && r.end_us >= 0 ? " (" + formatDuration(r.end_us - r.start_us) + ")" : "";
    fmt::print(out_, "[{}/{}] {:<7} {}{}{}\n", finished_, planned_, outcomeName(r.outcome), printable(t.name), dur,
               failed && !r.reason.empty() ? "  " + printable(r.reason) : "");
    if (show_log) {
      if (output_ == OutputMode::Streamed) {
        // Its lines were shown as they came; a test that never reached the stream shows them now.
        if (!streamed) {
          std::ifstream in(log_root_ + "/" + r.log);
          for (std::string line; std::getline(in, line);) fmt::print(out_, "{}: {}\n", printable(t.name), printable(line));
        }
      } else {
        printLog(r, true);
      }
    }
    if (failed && t.cmd.size() >= 2 && t.cmd[1].rfind("--gtest_filter=", 0) == 0)
      fmt::print(out_, "  reproduce: {} {}\n", printable(t.cmd[0]), printable(t.cmd[1]));
  }
  if (tty_ && verbosity_ > 0) {
    fmt::print(out_, "\r[{}/{} {} running] {}\x1b[K", finished_, planned_, running_, printable(t.name));
    status_shown_ = true;
  }
  fflush(out_);
}

void Console::testRetried(size_t test, const TestRecord& r) {
  if (running_ > 0) --running_;
  if (streams_.count(test)) {
    drain(test, true);
    streams_.erase(test);
  }
  if (verbosity_ == 0) return;
  clearStatus();
  fmt::print(out_, "[{}/{}] {:<7} {} (attempt {} {}{}), retrying\n", finished_, planned_, "RETRY",
             printable(m_.tests[test].name), r.attempts, outcomeName(r.outcome), r.reason.empty() ? "" : ": " + printable(r.reason));
  fflush(out_);
}

void Console::summary(const Manifest& m, const std::vector<size_t>& planned, const ScheduleResult& result,
                      int64_t wall_us, const std::vector<std::string>& notes) {
  clearStatus();
  std::map<Outcome, size_t> counts;
  int64_t sum_us = 0;
  std::vector<size_t> timed;
  for (size_t t : planned) {
    const TestRecord& r = result.records[t];
    ++counts[r.outcome];
    if (r.start_us >= 0 && r.end_us >= r.start_us) {
      sum_us += r.end_us - r.start_us;
      timed.push_back(t);
    }
    for (const TestRecord& e : r.earlier)  // failed attempts before a retry ran too
      if (e.start_us >= 0 && e.end_us >= e.start_us) sum_us += e.end_us - e.start_us;
  }
  std::vector<std::string> parts;
  for (auto [o, n] : counts) parts.push_back(fmt::format("{} {}", n, outcomeName(o)));
  std::string joined;
  for (size_t i = 0; i < parts.size(); ++i) joined += (i ? ", " : "") + parts[i];
  std::vector<size_t> failures;
  for (size_t t : planned)
    if (isFailure(result.records[t].outcome)) failures.push_back(t);
  if (!failures.empty() && verbosity_ >= 0) {
    fmt::print(out_, "\nFailures:\n");
    size_t shown = 0;
    for (size_t t : failures) {
      if (++shown > 50) {
        fmt::print(out_, "  ... and {} more (see the JSON report)\n", failures.size() - 50);
        break;
      }
      const TestRecord& r = result.records[t];
      fmt::print(out_, "  {:<7} {}{}\n", outcomeName(r.outcome), printable(m.tests[t].name),
                 r.reason.empty() ? "" : "  (" + printable(r.reason) + ")");
    }
  }
  if (verbosity_ > 0 && !timed.empty()) {
    size_t k = std::min<size_t>(5, timed.size());
    std::partial_sort(timed.begin(), timed.begin() + long(k), timed.end(), [&](size_t a, size_t b) {
      const auto& ra = result.records[a];
      const auto& rb = result.records[b];
      return ra.end_us - ra.start_us > rb.end_us - rb.start_us;
    });
    fmt::print(out_, "\nSlowest:\n");
    for (size_t i = 0; i < k; ++i) {
      const TestRecord& r = result.records[timed[i]];
      fmt::print(out_, "  {:>9}  {}\n", formatDuration(r.end_us - r.start_us), printable(m.tests[timed[i]].name));
    }
  }
  for (const auto& n : notes) fmt::print(out_, "{}\n", printable(n));
  double ratio = wall_us > 0 ? double(sum_us) / double(wall_us) : 0;
  fmt::print(out_, "\n{} tests: {}\n", planned.size(), joined.empty() ? "none" : joined);
  fmt::print(out_, "wall {}, sum of test times {} ({:.2f}x)\n", formatDuration(wall_us), formatDuration(sum_us), ratio);
  fflush(out_);
}

}  // namespace mpexec
