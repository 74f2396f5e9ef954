#include "executor/console.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "executor/printable.h"

namespace mpexec {

namespace {

// What a failed test shows of its output: enough to see why it failed; the whole log is in its file.
constexpr size_t kTailLines = 200;
constexpr size_t kTailBytes = 64 * 1024;
constexpr size_t kWordWidth = 7;  // the longest outcome word: TIMEOUT, NOT_RUN
constexpr size_t kFailuresListed = 50;
constexpr size_t kSkipsListed = 20;

const char* colorOf(Outcome o) {
  switch (o) {
    case Outcome::Pass: return "32";
    case Outcome::Skip:
    case Outcome::Flaky: return "33";
    case Outcome::NotRun: return "2";
    default: return "1;31";
  }
}

/// "5s", "1m05s", "1h02m": the status line's clock, which should not flicker.
std::string formatElapsed(int64_t us) {
  int64_t s = std::max<int64_t>(0, us / 1'000'000);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
}

std::string plural(size_t n, const char* one, const char* many) { return fmt::format("{} {}", n, n == 1 ? one : many); }

struct Tail {
  bool exists = false;
  uint64_t size = 0;      ///< of the whole file
  std::string text;       ///< its end: at most the lines and bytes asked for
  bool cut = false;       ///< text is not the whole file
};

Tail readTail(const std::string& path, size_t max_lines, size_t max_bytes) {
  Tail t;
  std::ifstream in(path, std::ios::binary);
  if (!in) return t;
  t.exists = true;
  in.seekg(0, std::ios::end);
  t.size = uint64_t(std::max<std::streamoff>(0, in.tellg()));
  uint64_t from = t.size > max_bytes ? t.size - max_bytes : 0;
  in.seekg(std::streamoff(from));
  t.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  t.cut = from > 0;
  // The last max_lines lines: stop at the max_lines-th newline from the end (the last one's own aside).
  size_t end = t.text.size();
  if (end > 0 && t.text[end - 1] == '\n') --end;
  size_t seen = 0;
  for (size_t i = end; i-- > 0;) {
    if (t.text[i] == '\n' && ++seen == max_lines) {
      t.text.erase(0, i + 1);
      t.cut = true;
      return t;
    }
  }
  if (t.cut) {
    // Cut by bytes inside a line: start at the next whole one.
    size_t nl = t.text.find('\n');
    if (nl != std::string::npos && nl + 1 < t.text.size()) t.text.erase(0, nl + 1);
  }
  return t;
}

std::string formatBytes(uint64_t n) {
  if (n < 1024) return fmt::format("{} bytes", n);
  if (n < 1024 * 1024) return fmt::format("{:.1f} KiB", double(n) / 1024);
  return fmt::format("{:.1f} MiB", double(n) / (1024 * 1024));
}

/// How a failed (or skipped, or flaky) test ended, in a few words; empty for a plain pass.
std::string detailOf(const TestRecord& r, const std::string& log_root) {
  switch (r.outcome) {
    case Outcome::Pass: return "";
    case Outcome::Skip: return skipReason(r, log_root);
    case Outcome::Flaky: return fmt::format("passed on attempt {}", r.attempts);
    case Outcome::Fail:
      if (!r.reason.empty()) return r.reason;
      if (r.exit_code) return fmt::format("exit {}", *r.exit_code);
      return "";
    default: {
      std::string d = r.reason;
      if (d.empty() && r.signal) d = fmt::format("signal {}", *r.signal);
      if (d.empty() && r.exit_code) d = fmt::format("exit {}", *r.exit_code);
      return d;
    }
  }
}

/// " (5ms)": the duration of the attempt `r` is; with `attempt`, " (5ms, attempt 3)" after retries. Empty
/// when it never ran.
std::string durationOf(const TestRecord& r, bool attempt) {
  if (r.start_us < 0 || r.end_us < r.start_us) return "";
  if (attempt && r.attempts > 1) return fmt::format(" ({}, attempt {})", formatDuration(r.end_us - r.start_us), r.attempts);
  return " (" + formatDuration(r.end_us - r.start_us) + ")";
}

/// Every attempt's time together: what a retried test cost the run.
int64_t allAttemptsUs(const TestRecord& r) {
  int64_t us = r.start_us >= 0 && r.end_us >= r.start_us ? r.end_us - r.start_us : 0;
  for (const TestRecord& e : r.earlier)
    if (e.start_us >= 0 && e.end_us >= e.start_us) us += e.end_us - e.start_us;
  return us;
}

}  // namespace

std::string formatDuration(int64_t us) {
  if (us < 0) return "-";
  if (us < 1'000'000) return fmt::format("{}ms", us / 1000);
  if (us < 60'000'000) return fmt::format("{:.2f}s", double(us) / 1e6);
  return fmt::format("{}m{:02}s", us / 60'000'000, (us / 1'000'000) % 60);
}

std::string shellQuote(std::string_view text) {
  bool safe = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return isalnum(static_cast<unsigned char>(c)) || (c != '\0' && strchr("@%_+=:,./-", c) != nullptr);
  });
  if (safe) return std::string(text);
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string regexEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (strchr("\\^$.|?*+()[]{}/", c) != nullptr && c != '\0') out += '\\';
    out += c;
  }
  return out;
}

std::string skipReason(const TestRecord& r, const std::string& log_root) {
  if (!r.reason.empty()) return r.reason;
  std::string why = r.exit_code ? fmt::format("exit {}", *r.exit_code) : std::string("skipped");
  if (r.log.empty()) return why;
  // Programs that skip (exit 77) say why on their last line, as automake's tests do.
  Tail t = readTail(r.log[0] == '/' ? r.log : log_root + "/" + r.log, 20, 4096);
  std::string_view text = t.text;
  auto blank = [](char c) { return isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);  // the last line that says something
  std::string_view line = text.substr(text.rfind('\n') == std::string_view::npos ? 0 : text.rfind('\n') + 1);
  while (!line.empty() && blank(line.front())) line.remove_prefix(1);
  if (line.empty()) return why;
  return why + ": " + std::string(line.substr(0, 200));
}

bool colorWanted(ColorMode mode, FILE* out) {
  if (mode != ColorMode::Auto) return mode == ColorMode::Always;
  const char* no_color = getenv("NO_COLOR");
  const char* term = getenv("TERM");
  return isatty(fileno(out)) && !(no_color && *no_color) && !(term && strcmp(term, "dumb") == 0);
}

bool statusLineWanted(int verbosity, FILE* out) {
  const char* term = getenv("TERM");
  return verbosity == 1 && isatty(fileno(out)) && !(term && strcmp(term, "dumb") == 0);
}

Console::Console(const Manifest& m, size_t planned, ConsoleOptions opts, FILE* out)
    : m_(m), planned_(planned), opts_(std::move(opts)), out_(out) {}

std::string Console::paint(std::string_view text, const char* sgr) const {
  if (!opts_.color) return std::string(text);
  return fmt::format("\x1b[{}m{}\x1b[0m", sgr, text);
}

std::string Console::outcomeWord(Outcome o) const { return paint(outcomeName(o), colorOf(o)); }

std::string Console::linePrefix(const std::string& word_painted, size_t word_width) const {
  return fmt::format("[{}/{}] {}{} ", finished_, planned_, word_painted,
                     std::string(word_width < kWordWidth ? kWordWidth - word_width : 0, ' '));
}

int Console::columns() const {
  if (opts_.columns > 0) return opts_.columns;
  winsize ws{};
  if (ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = getenv("COLUMNS"); c && atoi(c) > 0) return atoi(c);
  return 80;
}

void Console::clearStatus() {
  if (status_shown_) fmt::print(out_, "\r\x1b[K");
  status_shown_ = false;
  last_status_.clear();
}

std::string Console::statusText() const {
  const int64_t now = opts_.now_us();
  // [12/400 1m02s 10 PASS 1 FAIL] 3 running: oldest, next, +1
  // Never wider than the terminal: a wrapped status line is left behind by every redraw. What does not
  // fit goes, last first: running names become +N, then counts become "...".
  const size_t width = size_t(std::max(1, columns() - 1));
  std::string plain = fmt::format("[{}/{} {}", finished_, planned_, formatElapsed(now));
  std::string painted = plain;
  size_t shown = 0;
  for (auto [o, n] : counts_) {
    std::string count = fmt::format(" {} {}", n, outcomeName(o));
    const bool last = ++shown == counts_.size();
    if (columnsOf(plain) + columnsOf(count) + (last ? 1 : 5) > width) {  // 1: "]"; 5: " ...]"
      plain += " ...";
      painted += " ...";
      break;
    }
    plain += count;
    painted += fmt::format(" {} {}", n, outcomeWord(o));
  }
  plain += "]";
  painted += "]";
  if (columnsOf(plain) > width) return std::string(fitColumns(plain, width));  // a very narrow terminal
  if (running_.empty()) return painted;
  std::string count = fmt::format(" {} running", running_.size());
  if (columnsOf(plain) + columnsOf(count) > width) return painted;
  std::vector<std::pair<int64_t, size_t>> by_start;
  for (const auto& [test, r] : running_) by_start.emplace_back(r.start_us, test);
  std::sort(by_start.begin(), by_start.end());
  std::string names;
  size_t used = columnsOf(plain) + columnsOf(count) + 2;  // ": "
  for (size_t i = 0; i < by_start.size(); ++i) {
    auto [start, test] = by_start[i];
    std::string name = printable(m_.tests[test].name);
    if (now - start >= 1'000'000) name += " (" + formatElapsed(now - start) + ")";
    std::string sep = i ? ", " : "";
    std::string more = i + 1 < by_start.size() ? fmt::format(", +{}", by_start.size() - i - 1) : "";
    if (used + columnsOf(sep + name) + columnsOf(more) > width) {
      std::string rest = fmt::format("{}+{}", sep, by_start.size() - i);
      if (i == 0) {
        // Not even the first name fits: as much of it as does.
        size_t room = width > used + columnsOf(more) + 3 ? width - used - columnsOf(more) - 3 : 0;
        rest = room > 0 ? std::string(fitColumns(name, room)) + "..." + more : "";
      }
      if (used + columnsOf(rest) <= width) names += rest;
      break;
    }
    names += sep + name;
    used += columnsOf(sep + name);
  }
  return painted + count + (names.empty() ? "" : ": " + names);
}

void Console::drawStatus() {
  if (!opts_.status_line) return;
  std::string text = statusText();
  if (status_shown_ && text == last_status_) return;
  fmt::print(out_, "\r{}\x1b[K", text);
  status_shown_ = true;
  last_status_ = std::move(text);
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
  while ((nl = st.partial.find('\n', start)) != std::string::npos) {
    clearStatus();
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

void Console::warnSlow() {
  if (opts_.slow_us <= 0 || opts_.verbosity == 0) return;
  const int64_t now = opts_.now_us();
  for (auto& [test, r] : running_) {
    int64_t periods = (now - r.start_us) / opts_.slow_us;
    if (periods <= r.slow_lines) continue;
    r.slow_lines = periods;
    clearStatus();
    fmt::print(out_, "{}{} (running for {})\n", linePrefix(paint("SLOW", "1;33"), 4), printable(m_.tests[test].name),
               formatElapsed(now - r.start_us));
  }
}

void Console::line(const std::string& text) {
  clearStatus();
  fmt::print(out_, "{}\n", text);
  drawStatus();
  fflush(out_);
}

void Console::unitLeaked(const Unit& unit, uint32_t processes) {
  if (opts_.verbosity == 0) return;
  clearStatus();
  std::string what = unit.group.empty() ? printable(unit.name) : fmt::format("group {} (unit {})", printable(unit.group), unit.id);
  fmt::print(out_, "{}{}: {} still running after its last command, killed\n", linePrefix(paint("LEAK", "1;33"), 4),
             what, plural(processes, "process", "processes"));
  drawStatus();
  fflush(out_);
}

void Console::tick() {
  for (auto& [test, _] : streams_) drain(test, false);
  warnSlow();
  drawStatus();
  fflush(out_);
}

void Console::testStarted(size_t test, const std::string&, int) {
  running_[test] = Running{opts_.now_us(), 0};
  if (opts_.output == OutputMode::Streamed && log_of_) streams_[test] = Stream{opts_.log_root + "/" + log_of_(test), 0, {}};
  drawStatus();
  fflush(out_);
}

void Console::printOutput(size_t test, const TestRecord& r) {
  const std::string name = printable(m_.tests[test].name);
  if (r.log.empty()) return;
  std::string path = r.log[0] == '/' ? r.log : opts_.log_root + "/" + r.log;
  Tail t = readTail(path, kTailLines, kTailBytes);
  if (!t.exists) return;
  if (t.size == 0) {
    fmt::print(out_, "{}\n", paint(fmt::format("--- {} printed nothing ---", name), "1"));
    return;
  }
  std::string whole = t.cut ? fmt::format(" (its last lines; all {} in {})", formatBytes(t.size), printable(r.log)) : "";
  fmt::print(out_, "{}\n", paint(fmt::format("--- output of {}{} ---", name, whole), "1"));
  fmt::print(out_, "{}{}", printable(t.text, Newlines::Keep), t.text.empty() || t.text.back() == '\n' ? "" : "\n");
}

void Console::testFinished(size_t test, const TestRecord& r) {
  bool streamed = streams_.count(test) > 0;
  if (streamed) {
    drain(test, true);
    streams_.erase(test);
  }
  running_.erase(test);
  ++finished_;
  ++counts_[r.outcome];
  const bool failed = isFailure(r.outcome);
  const TestSpec& t = m_.tests[test];
  // A flaky test ends the RETRY lines printed for it: its line shows on a terminal too, as nextest's TRY does.
  bool show_line = failed || (opts_.verbosity > 0 && (!opts_.status_line || opts_.output == OutputMode::All ||
                                                      r.outcome == Outcome::Flaky));
  bool show_output = failed ? opts_.output != OutputMode::None
                            : opts_.verbosity > 0 && (opts_.output == OutputMode::All || opts_.output == OutputMode::Streamed);
  if (show_line || show_output) {
    clearStatus();
    std::string dur = durationOf(r, true);
    std::string detail = detailOf(r, opts_.log_root);
    fmt::print(out_, "{}{}{}{}\n", linePrefix(outcomeWord(r.outcome), strlen(outcomeName(r.outcome))), printable(t.name),
               dur, detail.empty() ? "" : "  " + printable(detail));
    if (show_output && opts_.output == OutputMode::Streamed) {
      // Its lines were shown as they came; a test that ended before the first look shows them now.
      if (!streamed) {
        std::ifstream in(opts_.log_root + "/" + r.log);
        for (std::string line; std::getline(in, line);) fmt::print(out_, "{}: {}\n", printable(t.name), printable(line));
      }
    } else if (show_output) {
      printOutput(test, r);
    }
    if (failed && r.outcome != Outcome::NotRun) {
      fmt::print(out_, "  rerun: {} --filter {} {}\n", opts_.rerun_command,
                 printable(shellQuote("^" + regexEscape(t.name) + "$")), opts_.rerun_manifest);
      if (t.cmd.size() >= 2 && t.cmd[1].rfind("--gtest_filter=", 0) == 0)
        fmt::print(out_, "  reproduce: {} {}\n", printable(shellQuote(t.cmd[0])), printable(shellQuote(t.cmd[1])));
      if (!t.id.empty()) {
        // A gtest batch's case reproduces alone like a gtest entry's.
        const BatchSpec& batch = *m_.groups.at(t.group).batch;
        for (const std::string& arg : batch.cmd)
          if (arg.rfind("--gtest_filter=", 0) == 0)
            fmt::print(out_, "  reproduce: {} {}\n", printable(shellQuote(batch.cmd[0])),
                       printable(shellQuote("--gtest_filter=" + t.id)));
      }
    }
  }
  drawStatus();
  fflush(out_);
}

void Console::testRetried(size_t test, const TestRecord& r) {
  running_.erase(test);
  if (streams_.count(test)) {
    drain(test, true);
    streams_.erase(test);
  }
  if (opts_.verbosity > 0) {
    clearStatus();
    std::string dur = durationOf(r, false);
    std::string detail = detailOf(r, opts_.log_root);
    fmt::print(out_, "{}{}{}  attempt {} {}{}, retrying\n", linePrefix(paint("RETRY", "35"), 5), printable(m_.tests[test].name),
               dur, r.attempts, outcomeWord(r.outcome), detail.empty() ? "" : ": " + printable(detail));
  }
  drawStatus();
  fflush(out_);
}

void Console::summary(const Manifest& m, const std::vector<size_t>& planned, const ScheduleResult& result,
                      int64_t wall_us, const SummaryHeadline& headline, const std::vector<std::string>& notes) {
  clearStatus();
  std::map<Outcome, size_t> counts;
  int64_t sum_us = 0;
  std::vector<size_t> timed, failures, skipped, flaky;
  for (size_t t : planned) {
    const TestRecord& r = result.records[t];
    ++counts[r.outcome];
    if (r.start_us >= 0 && r.end_us >= r.start_us) timed.push_back(t);
    sum_us += allAttemptsUs(r);  // failed attempts before a retry ran too
    // What did not run did not fail: it is counted, and the headline says why, but it is no failure to read.
    if (isFailure(r.outcome) && r.outcome != Outcome::NotRun) failures.push_back(t);
    if (r.outcome == Outcome::Skip) skipped.push_back(t);
    if (r.outcome == Outcome::Flaky) flaky.push_back(t);
  }
  const size_t not_run = counts.count(Outcome::NotRun) ? counts[Outcome::NotRun] : 0;

  // What stopped the run comes first: everything below reads differently after it.
  if (headline.interrupt_signal) {
    const char* abbrev = sigabbrev_np(headline.interrupt_signal);
    fmt::print(out_, "\n{} by signal {}{}: every running unit was killed; {} not run\n", paint("INTERRUPTED", "1;31"),
               headline.interrupt_signal, abbrev ? fmt::format(" (SIG{})", abbrev) : "", plural(not_run, "test", "tests"));
  } else if (headline.max_fail > 0) {
    fmt::print(out_, "\n{} after {} (--max-fail {}): no unit started since; {} not run\n", paint("STOPPED", "1;33"),
               plural(size_t(headline.max_fail), "failure", "failures"), headline.max_fail, plural(not_run, "test", "tests"));
  }

  // A titled list of tests, one line each, the first `cap` of them and then how many more.
  auto section = [&](const char* title, const std::vector<size_t>& tests, size_t cap, const char* rest,
                     const std::function<std::string(size_t test, const TestRecord&)>& line) {
    if (tests.empty()) return;
    fmt::print(out_, "\n{}\n", paint(title, "1"));
    for (size_t i = 0; i < tests.size(); ++i) {
      if (i == cap) {
        fmt::print(out_, "  ... and {} more{}\n", tests.size() - cap, rest);
        break;
      }
      fmt::print(out_, "  {}\n", line(tests[i], result.records[tests[i]]));
    }
  };
  section("Failures:", failures, kFailuresListed, " (see the JSON report)", [&](size_t t, const TestRecord& r) {
    std::string detail = detailOf(r, opts_.log_root);
    return fmt::format("{}{} {}{}", outcomeWord(r.outcome), std::string(kWordWidth - strlen(outcomeName(r.outcome)), ' '),
                       printable(m.tests[t].name), detail.empty() ? "" : "  " + printable(detail));
  });
  // Not failures, but a test that failed before it passed is worth a look: listed even with -q.
  section("Flaky:", flaky, kFailuresListed, " (see the JSON report)", [&](size_t t, const TestRecord& r) {
    std::string before;
    for (const TestRecord& e : r.earlier) {
      std::string d = detailOf(e, opts_.log_root);
      before += fmt::format("; attempt {} {}{}", e.attempts, outcomeWord(e.outcome), d.empty() ? "" : ": " + printable(d));
    }
    return fmt::format("{}  passed on attempt {}{}", printable(m.tests[t].name), r.attempts, before);
  });
  if (opts_.verbosity > 0)
    section("Skipped:", skipped, kSkipsListed, "", [&](size_t t, const TestRecord& r) {
      return fmt::format("{}  {}", printable(m.tests[t].name), printable(skipReason(r, opts_.log_root)));
    });
  if (opts_.verbosity > 0 && !timed.empty()) {
    size_t k = std::min<size_t>(5, timed.size());
    std::partial_sort(timed.begin(), timed.begin() + long(k), timed.end(), [&](size_t a, size_t b) {
      const auto& ra = result.records[a];
      const auto& rb = result.records[b];
      return ra.end_us - ra.start_us > rb.end_us - rb.start_us;
    });
    fmt::print(out_, "\n{}\n", paint("Slowest:", "1"));
    for (size_t i = 0; i < k; ++i) {
      // Ranked by the last attempt, as the reports time a test; a retried one says what all its attempts took.
      const TestRecord& r = result.records[timed[i]];
      std::string retried = r.earlier.empty() ? ""
                            : fmt::format(" (attempt {}; {} over {} attempts)", r.attempts, formatDuration(allAttemptsUs(r)),
                                          r.earlier.size() + 1);
      fmt::print(out_, "  {:>9}  {}{}\n", formatDuration(r.end_us - r.start_us), printable(m.tests[timed[i]].name), retried);
    }
  }
  if (!notes.empty()) fmt::print(out_, "\n");
  for (const auto& n : notes) fmt::print(out_, "{}\n", printable(n));

  std::string joined;
  for (auto [o, n] : counts) joined += fmt::format("{}{} {}", joined.empty() ? "" : ", ", n, outcomeWord(o));
  double ratio = wall_us > 0 ? double(sum_us) / double(wall_us) : 0;
  fmt::print(out_, "\n{}: {}\n", plural(planned.size(), "test", "tests"), joined.empty() ? "none" : joined);
  fmt::print(out_, "wall {}, sum of test times {} ({:.2f}x)\n", formatDuration(wall_us), formatDuration(sum_us), ratio);
  if (!failures.empty() && !headline.interrupt_signal)
    fmt::print(out_, "rerun the failures: {} --rerun-failed {}\n", opts_.rerun_command, opts_.rerun_manifest);
  fflush(out_);
}

}  // namespace mpexec
