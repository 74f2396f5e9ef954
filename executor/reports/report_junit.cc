#include "executor/reports/report_junit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "executor/utf8.h"
#include "sandbox/unique_fd.h"

namespace mpexec {

namespace json = boost::json;

namespace {


// Durations are summed as doubles: exact up to 2^53 µs (285 years), and a report's times, which merge
// takes from other machines, cannot overflow a sum.
std::string seconds(double us) { return fmt::format("{:.3f}", std::max(0.0, us) / 1e6); }

std::string str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<int64_t> i64(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_uint64()) return int64_t(v->as_uint64());
  return std::nullopt;
}

struct Counts {
  std::size_t tests = 0, failures = 0, errors = 0, skipped = 0;
  double time_us = 0;
  std::string attributes() const {
    return fmt::format("tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\"", tests, failures,
                       errors, skipped, seconds(time_us));
  }
};

// "exit code 1", "signal 11", or the runner's reason when it has one.
std::string messageOf(const json::object& t) {
  std::string reason = str(t, "reason");
  if (!reason.empty()) return reason;
  if (auto sig = i64(t, "signal")) return fmt::format("signal {}", *sig);
  if (auto code = i64(t, "exit_code")) return fmt::format("exit code {}", *code);
  return str(t, "outcome");
}

// What a dashboard groups test cases by: the GoogleTest suite of a gtest case, as gtest's own XML has it;
// else the group; else the test's own name, as CTest's JUnit writes it.
std::string classname(const json::object& t) {
  for (const char* key : {"gtest_suite", "group", "name"})
    if (std::string s = str(t, key); !s.empty()) return s;
  return "(unnamed)";
}

// One <property name="label"> per label, as pytest's record_property writes test case properties, and a
// batch test's note ("xfail").
std::string caseProperties(const json::object& t) {
  std::string props;
  const json::value* labels = t.if_contains("labels");
  if (labels != nullptr && labels->is_array())
    for (const json::value& l : labels->as_array())
      if (l.is_string()) props += fmt::format("        <property name=\"label\" value=\"{}\"/>\n", xmlEscape(std::string_view(l.as_string().data(), l.as_string().size())));
  if (std::string note = str(t, "note"); !note.empty())
    props += fmt::format("        <property name=\"note\" value=\"{}\"/>\n", xmlEscape(note));
  return props.empty() ? props : "      <properties>\n" + props + "      </properties>\n";
}

}  // namespace

std::string xmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    switch (c) {
      case '&': out += "&amp;"; ++i; continue;
      case '<': out += "&lt;"; ++i; continue;
      case '>': out += "&gt;"; ++i; continue;
      case '"': out += "&quot;"; ++i; continue;
      case '\'': out += "&apos;"; ++i; continue;
      case '\n': out += "&#10;"; ++i; continue;
      case '\r': out += "&#13;"; ++i; continue;
      case '\t': out += "&#9;"; ++i; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02X}", c);
      ++i;
      continue;
    }
    Utf8Char ch = decodeUtf8(s.substr(i));
    if (ch.length == 0 || ch.code == 0xFFFE || ch.code == 0xFFFF) {
      out += "\xEF\xBF\xBD";  // U+FFFD for each byte that starts no character (of XML)
      ++i;
      continue;
    }
    if (ch.code >= 0x80 && ch.code <= 0x9F) {
      // Valid XML, but a terminal that shows the file may act on a C1 control: shown as text instead.
      out += fmt::format("\\u{:04X}", ch.code);
      i += ch.length;
      continue;
    }
    out.append(s.substr(i, ch.length));
    i += ch.length;
  }
  return out;
}

std::optional<std::string> readCappedLog(int fd, const std::string& path, std::size_t max_bytes) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  auto readAt = [&](std::size_t offset, std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = pread(fd, out.data() + got, n - got, off_t(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += std::size_t(r);
    }
    out.resize(got);
    return out;
  };
  const auto size = std::size_t(st.st_size);
  if (size <= max_bytes) return readAt(0, size);
  std::size_t half = max_bytes / 2;
  return readAt(0, half) + fmt::format("\n[mpexec: {} bytes cut here; the whole log is {}]\n", size - 2 * half, path) +
         readAt(size - half, half);
}

LogReader logsUnder(std::vector<std::string> roots, std::size_t max_bytes) {
  return [roots = std::move(roots), max_bytes](std::size_t, const std::string& log) -> std::optional<std::string> {
    if (log.empty()) return std::nullopt;
    std::vector<std::string> candidates;
    if (log.front() == '/') {
      candidates.push_back(log);
    } else {
      for (const std::string& r : roots) candidates.push_back(r + "/" + log);
    }
    for (const std::string& path : candidates) {
      // O_NONBLOCK: a FIFO in the log's place must not hang the report (readCappedLog refuses it).
      UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
      if (!fd) continue;
      if (auto text = readCappedLog(fd.get(), path, max_bytes)) return text;
    }
    return std::nullopt;
  };
}

std::string junitReport(const json::object& report, const LogReader& read_log) {
  // Suites in order of first appearance.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::pair<std::size_t, const json::object*>>> suites;  // (index, test)
  std::map<std::string, std::string> strategy;
  const json::array* tests = report.contains("tests") ? report.at("tests").if_array() : nullptr;
  if (tests) {
    for (std::size_t i = 0; i < tests->size(); ++i) {
      const json::object* t = (*tests)[i].if_object();
      if (!t) continue;
      std::string g = str(*t, "group");
      if (g.empty()) g = "(free)";
      auto [it, fresh] = suites.try_emplace(g);
      if (fresh) {
        order.push_back(g);
        strategy[g] = str(*t, "strategy");
      }
      it->second.emplace_back(i, t);
    }
  }

  Counts total;
  std::string body;
  for (const std::string& g : order) {
    Counts c;
    std::string cases;
    for (auto [index, t] : suites[g]) {
      const std::string outcome = str(*t, "outcome");
      const std::string name = xmlEscape(str(*t, "name"));
      auto start = i64(*t, "start_us"), end = i64(*t, "end_us");
      double us = start && end && *start >= 0 && *end >= *start ? double(*end) - double(*start) : 0;
      int64_t attempts = i64(*t, "attempts").value_or(1);
      // One element per earlier attempt, as Surefire writes them, but no more than kJunitMaxReruns.
      const int64_t reruns = std::min<int64_t>(attempts, kJunitMaxReruns + 1);
      ++c.tests;
      c.time_us += us;
      cases += fmt::format("    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">\n", name, xmlEscape(classname(*t)),
                           seconds(us));
      cases += caseProperties(*t);
      std::string msg = xmlEscape(messageOf(*t));
      if (outcome == "SKIP") {
        ++c.skipped;
        cases += fmt::format("      <skipped message=\"{}\"/>\n", msg);
      } else if (outcome == "FLAKY") {
        for (int64_t k = 1; k < std::max<int64_t>(2, reruns); ++k)
          cases += fmt::format("      <flakyFailure message=\"failed on attempt {} of {}\" type=\"FLAKY\"/>\n", k, attempts);
      } else if (outcome == "FAIL" || outcome == "TIMEOUT" || outcome == "CRASH") {
        ++c.failures;
        cases += fmt::format("      <failure message=\"{}\" type=\"{}\">{}</failure>\n", msg, outcome, msg);
        for (int64_t k = 1; k < reruns; ++k)
          cases += fmt::format("      <rerunFailure message=\"failed on attempt {} of {}\" type=\"{}\"/>\n", k, attempts, outcome);
      } else if (outcome != "PASS") {
        ++c.errors;  // ERROR, NOT_RUN, and anything newer: a failure the test itself did not report
        cases += fmt::format("      <error message=\"{}\" type=\"{}\">{}</error>\n", msg, xmlEscape(outcome), msg);
      }
      if (std::string log = str(*t, "log"); !log.empty()) {
        if (auto text = read_log(index, log); text && !text->empty())
          cases += fmt::format("      <system-out>{}</system-out>\n", xmlEscape(*text));
      }
      cases += "    </testcase>\n";
    }
    body += fmt::format("  <testsuite name=\"{}\" {}>\n", xmlEscape(g), c.attributes());
    if (!strategy[g].empty())
      body += fmt::format("    <properties>\n      <property name=\"strategy\" value=\"{}\"/>\n    </properties>\n",
                          xmlEscape(strategy[g]));
    body += cases;
    body += "  </testsuite>\n";
    total.tests += c.tests;
    total.failures += c.failures;
    total.errors += c.errors;
    total.skipped += c.skipped;
    total.time_us += c.time_us;
  }
  if (report.contains("run") && report.at("run").is_object()) {
    if (auto wall = i64(report.at("run").as_object(), "wall_us")) total.time_us = double(*wall);
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
         fmt::format("<testsuites name=\"mpexec\" {}>\n", total.attributes()) + body + "</testsuites>\n";
}

}  // namespace mpexec
