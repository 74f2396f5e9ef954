#include "executor/reports/reports.h"

#include <functional>

#include <boost/json.hpp>

#include "executor/atomic_file.h"
#include "executor/reports/report_html.h"
#include "executor/reports/report_junit.h"
#include "executor/reports/report_trace.h"

namespace mpexec {

namespace {

struct Format {
  const std::string Config::*flag;  ///< the option naming its file
  const char* file_in_report_dir;   ///< its name inside --report-dir
  std::function<std::string(const ReportInput&)> render;
};

}  // namespace

std::vector<std::string> writeReports(const ReportInput& in, const Config& config, const std::string& run_dir,
                                      Follow follow) {
  const Format formats[] = {
      {&Config::json, "report.json", [](const ReportInput& r) { return jsonReport(r.manifest, r.plan, r.result, r.info); }},
      {&Config::junit, "junit.xml",
       [](const ReportInput& r) {
         auto report = boost::json::parse(jsonReport(r.manifest, r.plan, r.result, r.info));
         return junitReport(report.as_object(), logsUnder({r.log_root}));
       }},
      {&Config::trace, "trace.json", [](const ReportInput& r) { return traceReport(r.manifest, r.plan, r.result, r.info); }},
      {&Config::html, "report.html",
       [](const ReportInput& r) { return htmlReport(r.manifest, r.plan, r.result, r.info, {.log_root = r.log_root}); }},
  };
  std::vector<std::string> problems;
  for (const Format& f : formats) {
    std::vector<std::string> paths;
    if (!(config.*f.flag).empty()) paths.push_back(config.*f.flag);
    if (!config.report_dir.empty()) paths.push_back(config.report_dir + "/" + f.file_in_report_dir);
    // The run directory always keeps the JSON record, for `mpexec merge` and later inspection.
    if (f.flag == &Config::json) paths.push_back(run_dir + "/report.json");
    if (paths.empty()) continue;
    std::string text = f.render(in);
    // A report is rewritten by every run, and one lost with the machine is lost with the run it reports:
    // no fsync, which would hold up the end of every run.
    for (const auto& p : paths) {
      auto w = writeFileAtomic(p, text, Survives::ProcessCrash, follow);
      if (!w.ok()) problems.push_back(w.error().message());
    }
  }
  return problems;
}

}  // namespace mpexec
