#include "executor/reports/report_html.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "executor/reports/report_html_template.h"
#include "executor/utf8.h"
#include "executor/reports/report_trace.h"

namespace mpexec {

namespace {

constexpr std::array kOutcomes = {Outcome::Pass,  Outcome::Fail,  Outcome::Skip,  Outcome::Flaky,
                                  Outcome::Timeout, Outcome::Crash, Outcome::Error, Outcome::NotRun};

/// "850 µs", "12.3 ms", "4.56 s", "3 min 07 s".
std::string duration(int64_t us) {
  if (us < 1000) return fmt::format("{} µs", std::max<int64_t>(0, us));
  if (us < 1'000'000) return fmt::format("{:.3g} ms", double(us) / 1e3);
  if (us < 60'000'000) return fmt::format("{:.3g} s", double(us) / 1e6);
  int64_t s = us / 1'000'000;
  return fmt::format("{} min {:02} s", s / 60, s % 60);
}

/// "a, b": a test's labels as one text.
std::string labelList(const TestSpec& t) {
  std::string out;
  for (const auto& l : t.labels) out += (out.empty() ? "" : ", ") + l;
  return out;
}

bool timed(const TestRecord& r) { return r.start_us >= 0 && r.slot >= 0; }

int64_t endOf(const TestRecord& r, int64_t wall_us) {
  return r.end_us >= r.start_us ? r.end_us : std::max(r.start_us, wall_us);
}

/// A whole number of 1, 2 or 5 × 10^k µs that cuts `span` into about `parts`.
int64_t tickStep(int64_t span, int parts) {
  double raw = double(std::max<int64_t>(span, 1)) / parts;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double f : {1.0, 2.0, 5.0, 10.0})
    if (f * mag >= raw) return std::max<int64_t>(1, int64_t(f * mag));
  return int64_t(10 * mag);
}

/// The tail of the log at `path`, or why there is none. Reads only the bytes it keeps.
struct LogTail {
  std::string text;
  size_t size = 0;  ///< the whole log's size
  bool found = false;
};

LogTail readTail(const std::string& path, size_t max_bytes) {
  LogTail tail;
  std::ifstream in(path, std::ios::binary);
  if (!in) return tail;
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  if (size < 0) return tail;
  tail.found = true;
  tail.size = size_t(size);
  size_t keep = std::min(tail.size, max_bytes);
  in.seekg(std::streamoff(tail.size - keep));
  tail.text.resize(keep);
  in.read(tail.text.data(), std::streamsize(keep));
  tail.text.resize(size_t(in.gcount()));
  return tail;
}

class Page {
 public:
  Page(const Manifest& m, const Plan& plan, const ScheduleResult& result, const RunInfo& info, const HtmlOptions& opts)
      : m_(m), plan_(plan), result_(result), info_(info), opts_(opts) {
    out_.reserve(256 + plan.tests.size() * 220);
  }

  std::string render() {
    out_ += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
    out_ += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    out_ += "<meta name=\"generator\" content=\"mpexec\">\n";
    out_ += fmt::format("<title>mpexec report {}</title>\n", htmlEscape(info_.run_id));
    out_ += fmt::format("<script>{}</script>\n<style>{}</style>\n</head>\n<body>\n", html_template::kErrorWatch,
                        html_template::kStyle);
    header();
    timeline();
    failures();
    slowest();
    out_ += fmt::format("<script>{}</script>\n</body></html>\n", html_template::kPageScript);
    return std::move(out_);
  }

 private:
  void header() {
    std::array<size_t, kOutcomes.size()> counts{};
    int64_t test_time = 0;
    for (size_t t : plan_.tests) {
      const TestRecord& r = result_.records[t];
      for (size_t k = 0; k < kOutcomes.size(); ++k)
        if (kOutcomes[k] == r.outcome) ++counts[k];
      if (timed(r)) test_time += endOf(r, info_.wall_us) - r.start_us;
      for (const TestRecord& e : r.earlier)  // failed attempts before a retry ran too
        if (timed(e)) test_time += endOf(e, info_.wall_us) - e.start_us;
    }
    const char* verdict = result_.interrupted ? "interrupted" : info_.exit_code == 0 ? "passed" : "failed";
    out_ += fmt::format("<header>\n<h1>mpexec run <span class=\"mono\">{}</span> — <span class=\"verdict {}\">{}</span></h1>\n",
                        htmlEscape(info_.run_id), info_.exit_code == 0 ? "good" : "bad", verdict);
    out_ += "<div class=\"counts\" id=\"counts\">";
    for (size_t k = 0; k < kOutcomes.size(); ++k)
      out_ += fmt::format("<span class=\"chip o-{0}{1}\" data-outcome=\"{0}\" data-count=\"{2}\">{0} {2}</span>",
                          outcomeName(kOutcomes[k]), counts[k] ? "" : " zero", counts[k]);
    out_ += "</div>\n<dl class=\"facts\">\n";
    auto fact = [&](const char* name, const std::string& value) {
      out_ += fmt::format("<dt>{}</dt><dd>{}</dd>\n", name, value);
    };
    double parallel = info_.wall_us > 0 ? double(test_time) / double(info_.wall_us) : 0;
    fact("tests", fmt::format("{} in {} units, {} phases", plan_.tests.size(), plan_.units.size(), plan_.phases.size()));
    fact("wall time", fmt::format("<span id=\"wall\">{}</span> against <span id=\"test-time\">{}</span> of test "
                                  "time (×{:.2f} parallel)",
                                  duration(info_.wall_us), duration(test_time), parallel));
    fact("np", fmt::format("<span id=\"np\">{}</span>", info_.np));
    fact("seed", info_.seed ? fmt::format("{} (repeat with <code>--shuffle --seed {}</code>)", *info_.seed, *info_.seed)
                            : std::string("none (not shuffled)"));
    if (info_.shard) fact("shard", fmt::format("{}/{}", info_.shard->first, info_.shard->second));
    std::string limits;
    for (const auto& l : info_.limits) limits += (limits.empty() ? "" : ", ") + htmlEscape(l);
    fact("sandbox", fmt::format("<span id=\"sandbox\">{}</span>{}{}", htmlEscape(info_.sandbox),
                                info_.sandbox_detail.empty() ? "" : " — " + htmlEscape(info_.sandbox_detail),
                                limits.empty() ? "" : "; limits: " + limits));
    fact("exit code", fmt::format("{}", info_.exit_code));
    fact("manifest", "<code>" + htmlEscape(m_.path) + "</code>");
    out_ += "</dl>\n";
    if (!info_.warnings.empty()) {
      out_ += "<ul class=\"warnings\">";
      for (const auto& w : info_.warnings) out_ += "<li>" + htmlEscape(w) + "</li>";
      out_ += "</ul>\n";
    }
    out_ += "</header>\n";
  }

  void timeline() {
    constexpr double kWidth = 1200, kLeft = 64, kRight = 12, kTop = 36;
    const double plot = kWidth - kLeft - kRight;
    const Timeline tl = layoutTimeline(plan_, result_, info_);
    const int slots = tl.slots;
    // Under the slots: a row per resource instance that some unit held, and one for the waits for them.
    const int instance_rows = int(tl.instances.size());
    const int wait_row = result_.resource_waits.empty() ? -1 : slots + instance_rows;
    const int rows = slots + instance_rows + (wait_row < 0 ? 0 : 1);
    const int64_t span = tl.span_us;
    const double row = rows <= 16 ? 22 : std::max(6.0, 352.0 / rows);
    const double bar_h = std::max(3.0, row - 4);
    const double height = kTop + rows * row + 6;
    auto x = [&](int64_t us) { return kLeft + plot * double(us) / double(span); };
    auto y = [&](int slot) { return kTop + slot * row + (row - bar_h) / 2; };

    out_ += "<section id=\"timeline-section\"><h2>Timeline</h2>\n<div class=\"legend\">";
    for (Outcome o : kOutcomes) out_ += fmt::format("<span><i class=\"o-{0}\"></i>{0}</span>", outcomeName(o));
    out_ += "<span><i class=\"fix\"></i>unit set-up / teardown</span><span><i class=\"win\"></i>isolated window</span>"
            "<span><i class=\"wait\"></i>barrier wait</span>";
    if (!tl.instances.empty())
      out_ += "<span><i class=\"hold\"></i>resource held</span><span><i class=\"rwait\"></i>wait for resources</span>";
    out_ += "<input id=\"find\" type=\"search\" placeholder=\"highlight tests by name or label\" aria-label=\"highlight tests by name or label\">"
            "<span id=\"find-count\"></span></div>\n";
    if (tl.off_timeline)
      out_ += fmt::format("<p class=\"note\" id=\"not-on-timeline\">{} of {} tests never started and are not on the "
                          "timeline; see the failures below.</p>\n",
                          tl.off_timeline, plan_.tests.size());
    // Where most bars are a pixel or two wide, their white outlines would wash the colours out.
    size_t narrow = 0, tests = 0;
    for (const Slice& s : tl.slices) {
      if (s.kind != Slice::Kind::Test) continue;
      ++tests;
      if (x(s.end_us) - x(s.start_us) < 2) ++narrow;
    }
    out_ += fmt::format("<div class=\"timeline\"><svg id=\"timeline\"{} xmlns=\"http://www.w3.org/2000/svg\" "
                        "viewBox=\"0 0 {} {:.0f}\" data-slots=\"{}\" data-span-us=\"{}\" role=\"img\" "
                        "aria-label=\"slots against time\">\n",
                        narrow * 2 > tests ? " class=\"dense\"" : "", kWidth, height, slots, span);
    out_ += "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
            "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#f3f4f6\"/>"
            "<rect width=\"2.5\" height=\"6\" fill=\"#b9c0ca\"/></pattern></defs>\n";
    for (int s = 0; s < rows; ++s) {
      out_ += fmt::format("<rect class=\"row{}\" x=\"{}\" y=\"{:.1f}\" width=\"{}\" height=\"{:.1f}\"/>", s % 2 ? " odd" : "",
                          kLeft, kTop + s * row, plot, row);
      std::string label = s < slots ? fmt::format("slot {}", s)
                          : s == wait_row ? std::string("waits")
                                          : htmlEscape(tl.instances[size_t(s - slots)].first) + " " +
                                                std::to_string(tl.instances[size_t(s - slots)].second);
      if (row >= 10)
        out_ += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", kLeft - 6,
                            kTop + s * row + row / 2 + 4, label);
    }
    resourceRows(tl, slots, wait_row, [&](int64_t us) { return x(us); }, [&](int r) { return y(r); }, bar_h);
    out_ += "\n<g class=\"axis\">";
    int64_t step = tickStep(span, 10);
    for (int64_t t = 0; t <= span; t += step)
      out_ += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2:.1f}\"/><text x=\"{0:.1f}\" y=\"12\" "
                          "text-anchor=\"middle\">{3}</text>",
                          x(t), kTop - 4, height - 6, t == 0 ? std::string("0") : duration(t));
    out_ += "</g>\n";

    // Isolated windows and barrier waits under the bars: the bars must stay visible on top.
    for (const PhaseSpan& p : tl.phases) {
      const Phase& phase = plan_.phases[p.phase];
      if (!p.ran || phase.group.empty()) continue;
      out_ += fmt::format("<rect class=\"win\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{:.1f}\" data-group=\"{}\">"
                          "<title>isolated window: {} ({}), {}</title></rect>",
                          x(p.start_us), kTop - 14, std::max(0.5, x(p.end_us) - x(p.start_us)), slots * row + 14,
                          htmlEscape(phase.group), htmlEscape(phase.group),
                          phase.one_at_a_time ? "isolated_serial" : "isolated_free", duration(p.end_us - p.start_us));
      out_ += fmt::format("<text class=\"win-label\" x=\"{:.1f}\" y=\"{}\">{}</text>\n", x(p.start_us) + 3, kTop - 4,
                          htmlEscape(phase.group));
    }
    for (const Barrier& b : result_.barriers)
      out_ += fmt::format("<rect class=\"wait\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{:.1f}\">"
                          "<title>barrier wait: {}</title></rect>\n",
                          x(b.start_us), kTop, std::max(0.5, x(b.end_us) - x(b.start_us)), slots * row,
                          duration(b.end_us - b.start_us));

    size_t bars = 0;
    for (const Slice& s : tl.slices) {
      double x0 = x(s.start_us), w = x(s.end_us) - x0;
      switch (s.kind) {
        case Slice::Kind::Unit: continue;  // its set-up, tests and teardown cover it
        case Slice::Kind::SetUp:
        case Slice::Kind::Teardown:
          // Only where it shows: at 10,000 units most are far below a pixel.
          if (w < 1) continue;
          out_ += fmt::format("<rect class=\"fix\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"><title>{} of "
                              "{} ({}): {}</title></rect>\n",
                              x0, y(s.slot), w, bar_h, s.kind == Slice::Kind::SetUp ? "set-up" : "teardown",
                              htmlEscape(plan_.units[s.index].id), htmlEscape(plan_.units[s.index].name),
                              duration(s.end_us - s.start_us));
          continue;
        case Slice::Kind::Attempt: {
          std::string name = htmlEscape(m_.tests[s.index].name);
          out_ += fmt::format("<rect class=\"try o-{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\">"
                              "<title>{}&#10;attempt {}: {} · {}</title></rect>\n",
                              outcomeName(s.record->outcome), x0, y(s.slot), std::max(0.6, w), bar_h, name, s.attempt,
                              outcomeName(s.record->outcome), duration(s.end_us - s.start_us));
          continue;
        }
        case Slice::Kind::Test: break;
      }
      const TestSpec& spec = m_.tests[s.index];
      const TestRecord& r = *s.record;
      std::string name = htmlEscape(spec.name);
      bool failed = isFailure(r.outcome);
      ++bars;
      if (failed) out_ += fmt::format("<a href=\"#f{}\">", s.index);
      out_ += fmt::format("<rect class=\"bar o-{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                          "data-test=\"{}\"{}><title>{}&#10;{} · {} · slot {} · {}{}{}{}{}</title></rect>",
                          outcomeName(r.outcome), x0, y(s.slot), std::max(0.6, w), bar_h, name,
                          spec.labels.empty() ? "" : " data-labels=\"" + htmlEscape(labelList(spec)) + "\"", name,
                          outcomeName(r.outcome), r.start_us >= 0 ? duration(s.end_us - s.start_us) : "never started",
                          s.slot, htmlEscape(r.unit), spec.group.empty() ? "" : " [" + htmlEscape(spec.group) + "]",
                          r.attempts > 1 ? fmt::format(" · attempt {}", r.attempts) : "",
                          spec.labels.empty() ? "" : "&#10;labels: " + htmlEscape(labelList(spec)),
                          r.reason.empty() ? "" : "&#10;" + htmlEscape(r.reason));
      out_ += failed ? "</a>\n" : "\n";
    }
    out_ += fmt::format("</svg></div>\n<p class=\"note\">{} bars; hover a bar for its test, click a failed one for "
                        "its log.</p>\n</section>\n",
                        bars);
  }

  /// The units that held each resource instance, on its row, and the waits for resources on `wait_row`.
  template <class X, class Y>
  void resourceRows(const Timeline& tl, int slots, int wait_row, X x, Y y, double bar_h) {
    for (const UnitRun& run : result_.unit_runs) {
      if (run.unit >= plan_.units.size()) continue;
      const Unit& unit = plan_.units[run.unit];
      int64_t end = run.end_us >= run.start_us ? run.end_us : std::max(run.start_us, info_.wall_us);
      for (const auto& [name, instances] : run.resources) {
        for (int i : instances) {
          out_ += fmt::format("<rect class=\"hold\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\">"
                              "<title>{} {} held by unit {} ({}): {}</title></rect>\n",
                              x(run.start_us), y(slots + instanceRow(tl, name, i)),
                              std::max(0.6, x(end) - x(run.start_us)), bar_h, htmlEscape(name), i, htmlEscape(unit.id),
                              htmlEscape(unit.name), duration(end - run.start_us));
        }
      }
    }
    for (const ResourceWait& w : result_.resource_waits) {
      if (w.unit >= plan_.units.size()) continue;
      std::string what;
      for (const auto& r : w.resources) what += (what.empty() ? "" : ", ") + htmlEscape(r);
      out_ += fmt::format("<rect class=\"rwait\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                          "data-unit=\"{}\"><title>{} waited {} for {}{}</title></rect>\n",
                          x(w.start_us), y(wait_row), std::max(0.6, x(w.end_us) - x(w.start_us)), bar_h,
                          htmlEscape(plan_.units[w.unit].id), htmlEscape(plan_.units[w.unit].name),
                          duration(w.end_us - w.start_us), what, w.started ? "" : " (never started)");
    }
  }

  void failures() {
    std::vector<size_t> failed, not_run;
    for (size_t t : plan_.tests) {
      Outcome o = result_.records[t].outcome;
      if (o == Outcome::NotRun) not_run.push_back(t);
      else if (isFailure(o)) failed.push_back(t);
    }
    out_ += fmt::format("<section id=\"failures\"><h2>Failures ({})</h2>\n", failed.size() + not_run.size());
    if (failed.empty() && not_run.empty()) out_ += "<p class=\"note\">None.</p>\n";
    size_t budget = opts_.log_budget_bytes;
    for (size_t i = 0; i < failed.size(); ++i) {
      size_t t = failed[i];
      const TestSpec& spec = m_.tests[t];
      const TestRecord& r = result_.records[t];
      if (i == opts_.max_failures_detailed) {
        out_ += fmt::format("<p class=\"note\">{} more failures, by name only (see the JSON report):</p>\n<ul>",
                            failed.size() - i);
      }
      if (i >= opts_.max_failures_detailed) {
        out_ += fmt::format("<li id=\"f{}\"><code>{}</code> {}</li>\n", t, htmlEscape(spec.name), outcomeName(r.outcome));
        continue;
      }
      std::string how = r.signal     ? fmt::format("signal {}", *r.signal)
                        : r.exit_code ? fmt::format("exit {}", *r.exit_code)
                                      : std::string();
      std::string took = timed(r) ? duration(endOf(r, info_.wall_us) - r.start_us) : std::string("never started");
      out_ += fmt::format("<details class=\"failure {0}\" id=\"f{1}\"{2}><summary><span class=\"chip o-{0}\">{0}</span> "
                          "<b>{3}</b> — {4}{5}{6}</summary>\n",
                          outcomeName(r.outcome), t, i < 20 ? " open" : "", htmlEscape(spec.name), htmlEscape(how),
                          how.empty() ? "" : " · ", took);
      out_ += fmt::format("<div class=\"meta\">{}{}unit {}{}{}{}{}</div>\n",
                          r.note.empty() ? "" : "note " + htmlEscape(r.note) + " · ",
                          r.reason.empty() ? "" : htmlEscape(r.reason) + " · ", htmlEscape(r.unit),
                          spec.group.empty() ? "" : " · group " + htmlEscape(spec.group),
                          spec.labels.empty() ? "" : " · labels " + htmlEscape(labelList(spec)),
                          r.slot >= 0 ? fmt::format(" · slot {}", r.slot) : "",
                          r.attempts > 1 ? fmt::format(" · {} attempts", r.attempts) : "");
      out_ += log(r, budget);
      out_ += "</details>\n";
    }
    if (failed.size() > opts_.max_failures_detailed) out_ += "</ul>\n";
    if (!not_run.empty()) {
      out_ += fmt::format("<details class=\"failure NOT_RUN\" id=\"not-run\"><summary><span class=\"chip o-NOT_RUN\">"
                          "NOT_RUN</span> <b>{} tests did not run</b></summary><ul>",
                          not_run.size());
      constexpr size_t kListed = 200;
      for (size_t i = 0; i < not_run.size() && i < kListed; ++i) {
        const TestRecord& r = result_.records[not_run[i]];
        out_ += fmt::format("<li id=\"f{}\"><code>{}</code>{}</li>", not_run[i], htmlEscape(m_.tests[not_run[i]].name),
                            r.reason.empty() ? "" : " — " + htmlEscape(r.reason));
      }
      if (not_run.size() > kListed) out_ += fmt::format("<li>and {} more</li>", not_run.size() - kListed);
      out_ += "</ul></details>\n";
    }
    out_ += "</section>\n";
  }

  /// The tail of a test's log, escaped, within what is left of the page's budget.
  std::string log(const TestRecord& r, size_t& budget) {
    if (r.log.empty()) return "<p class=\"note meta\">No log.</p>\n";
    std::string path = r.log[0] == '/' || opts_.log_root.empty() ? r.log : opts_.log_root + "/" + r.log;
    std::string where = "<code>" + htmlEscape(r.log) + "</code>";
    if (budget == 0) return "<p class=\"note meta\">Log not inlined (the page's log budget is spent): " + where + "</p>\n";
    size_t keep = std::min(opts_.log_tail_bytes, budget);
    // Three bytes more than kept, so that the cut can move forward to the start of a character.
    LogTail tail = readTail(path, keep + 3);
    if (!tail.found) return "<p class=\"note meta\">No log at " + where + "</p>\n";
    if (tail.size == 0) return "<p class=\"note meta\">The test printed nothing (" + where + ").</p>\n";
    std::string_view kept = utf8Tail(tail.text, keep);
    budget -= std::min(budget, kept.size());
    std::string html;
    if (kept.size() < tail.size)
      html += fmt::format("<p class=\"note meta cut\">The first {} of {} bytes are cut; the whole log is {}</p>\n",
                          tail.size - kept.size(), tail.size, where);
    else
      html += "<p class=\"note meta\">Log: " + where + "</p>\n";
    return html + "<pre>" + htmlEscape(kept) + "</pre>\n";
  }

  void slowest() {
    std::vector<std::pair<int64_t, size_t>> by_time;
    for (size_t t : plan_.tests) {
      const TestRecord& r = result_.records[t];
      if (timed(r)) by_time.push_back({endOf(r, info_.wall_us) - r.start_us, t});
    }
    size_t n = std::min(opts_.slowest, by_time.size());
    std::partial_sort(by_time.begin(), by_time.begin() + ptrdiff_t(n), by_time.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    out_ += fmt::format("<section id=\"slowest\"><h2>Slowest tests</h2>\n");
    if (n == 0) {
      out_ += "<p class=\"note\">No test ran.</p></section>\n";
      return;
    }
    out_ += "<table><thead><tr><th>test</th><th class=\"num\">duration</th><th>outcome</th><th class=\"num\">slot</th>"
            "<th>unit</th><th>group</th></tr></thead><tbody>\n";
    for (size_t i = 0; i < n; ++i) {
      const auto& [us, t] = by_time[i];
      const TestRecord& r = result_.records[t];
      out_ += fmt::format("<tr><td><code>{}</code></td><td class=\"num\">{}</td><td><span class=\"chip o-{}\">{}</span>"
                          "</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>\n",
                          htmlEscape(m_.tests[t].name), duration(us), outcomeName(r.outcome), outcomeName(r.outcome),
                          r.slot, htmlEscape(r.unit), htmlEscape(m_.tests[t].group));
    }
    out_ += "</tbody></table>\n</section>\n";
  }

  const Manifest& m_;
  const Plan& plan_;
  const ScheduleResult& result_;
  const RunInfo& info_;
  const HtmlOptions& opts_;
  std::string out_;
};

}  // namespace

std::string htmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    switch (c) {
      case '&': out += "&amp;"; ++i; continue;
      case '<': out += "&lt;"; ++i; continue;
      case '>': out += "&gt;"; ++i; continue;
      case '"': out += "&quot;"; ++i; continue;
      case '\'': out += "&#39;"; ++i; continue;
      case '\n':
      case '\t': out += c; ++i; continue;
      default: break;
    }
    Utf8Char ch = decodeUtf8(text.substr(i));
    size_t n = ch.length;
    // C1 controls too: the page is also read with cat, and a terminal may act on them.
    if (n == 0 || ch.code < 0x20 || (ch.code >= 0x7F && ch.code <= 0x9F)) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += n ? n : 1;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::string_view utf8Tail(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t from = text.size() - max_bytes;
  // Skip continuation bytes, at most three, so the tail does not open on half a character.
  for (int k = 0; k < 3 && from < text.size() && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80; ++k) ++from;
  return text.substr(from);
}

std::string htmlReport(const Manifest& m, const Plan& plan, const ScheduleResult& result, const RunInfo& info,
                       const HtmlOptions& opts) {
  return Page(m, plan, result, info, opts).render();
}

}  // namespace mpexec
