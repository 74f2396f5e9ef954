#pragma once
// The HTML report (DESIGN §7, docs/reports.md): one self-contained page that needs no network. A header
// with the counts and the run's facts, an SVG timeline of slots × time, the failures with the tails of
// their logs, and the slowest tests.

#include <cstddef>
#include <string>
#include <string_view>

#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/reports/report_json.h"
#include "executor/scheduler.h"

namespace mpexec {

struct HtmlOptions {
  std::string log_root;                    ///< the records' relative log paths resolve against this directory
  size_t log_tail_bytes = 16 * 1024;       ///< the most of one test's log that is inlined (its end)
  size_t log_budget_bytes = 1024 * 1024;   ///< the most log text the whole page inlines
  size_t max_failures_detailed = 500;      ///< failures after these are listed by name only
  size_t slowest = 15;                     ///< rows in the slowest-tests table
};

/// The page as text. The timeline has exactly one `<rect class="bar ...">` per test that was given a slot
/// (its `data-test` is the test's name, its `<title>` the hover text); a test that never started is
/// counted in the header instead. Every text from the run (names, reasons, logs) is escaped.
std::string htmlReport(const Manifest& m, const Plan& plan, const ScheduleResult& result, const RunInfo& info,
                       const HtmlOptions& opts);

/// `text` escaped for HTML text and attribute values: & < > " ' become entities; invalid UTF-8 and
/// control characters other than newline and tab become U+FFFD, so a binary log cannot break the page.
std::string htmlEscape(std::string_view text);

/// The last `max_bytes` of `text`, starting on a UTF-8 character boundary.
std::string_view utf8Tail(std::string_view text, size_t max_bytes);

}  // namespace mpexec
