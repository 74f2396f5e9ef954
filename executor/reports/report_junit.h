#pragma once
// The JUnit XML report (DESIGN §7), rendered from a JSON report (report_json.h) so that a run and
// `mpexec merge` write it the same way.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace mpexec {

/// The captured output of the index-th test of a report, given its "log" path; none when it cannot be found
/// (or may not be read).
using LogReader = std::function<std::optional<std::string>(std::size_t index, const std::string& log)>;

/// Logs longer than this keep their first and last halves, with a note where they were cut.
constexpr std::size_t kJunitMaxLogBytes = 64 * 1024;
/// The most <flakyFailure> or <rerunFailure> elements of one test, whatever its "attempts" says.
constexpr int64_t kJunitMaxReruns = 100;

/// At most `max_bytes` of the regular file open at `fd`: all of it, or its head and tail around a line that
/// says how much was cut and that `path` is the whole log. None when it is not a regular file.
std::optional<std::string> readCappedLog(int fd, const std::string& path, std::size_t max_bytes = kJunitMaxLogBytes);

/// A LogReader for a run's own logs: a relative log path is looked for under each of `roots` in turn (an
/// absolute one as is), and read with readCappedLog().
LogReader logsUnder(std::vector<std::string> roots, std::size_t max_bytes = kJunitMaxLogBytes);

/// The report as JUnit XML: a <testsuite> per group in order of first appearance (tests without a group
/// in "(free)"), a <testcase> per test whose classname is its GoogleTest suite ("gtest_suite"), else its
/// group, else its own name (docs/reports.md). FAIL, TIMEOUT and CRASH are <failure>,
/// ERROR and NOT_RUN are <error>, SKIP is <skipped>; a FLAKY test passes with a <flakyFailure> per failed
/// attempt and a failure that was retried carries a <rerunFailure> per earlier attempt, as Maven Surefire
/// writes them (at most kJunitMaxReruns). The captured log goes in <system-out>. Any text is made valid
/// XML 1.0; a time that is missing, negative or ends before it starts counts as 0.
std::string junitReport(const boost::json::object& report, const LogReader& read_log);

/// `s` escaped for XML text and attribute values. Control characters XML 1.0 forbids become "\xNN"
/// text, invalid UTF-8 becomes U+FFFD, and newlines, tabs and carriage returns become character
/// references, so that they survive inside attributes.
std::string xmlEscape(std::string_view s);

}  // namespace mpexec
