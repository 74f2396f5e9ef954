#pragma once
// The fixed parts of the HTML report: its style sheet and its two small scripts. They are inlined into
// every report, which must work from file:// with no network (no fonts, images or scripts from elsewhere).

namespace mpexec::html_template {

/// Outcome colours follow the outcome classes "o-PASS", "o-FAIL", ...
inline constexpr const char* kStyle = R"CSS(
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --panel: #f6f8fa;
  --PASS: #2da44e; --SKIP: #8c959f; --FLAKY: #d4a72c; --FAIL: #cf222e; --TIMEOUT: #8250df;
  --CRASH: #82071e; --ERROR: #e16f24; --NOT_RUN: #c8d1da; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 48px; color: var(--fg); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.counts { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }
.chip { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; }
.chip.zero { opacity: .35; }
.chip.o-NOT_RUN, .chip.o-FLAKY { color: #1f2328; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
.verdict { font-weight: 700; }
.verdict.bad { color: var(--FAIL); }
.verdict.good { color: var(--PASS); }
.legend { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; color: var(--muted); margin: 6px 0; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -2px; margin-right: 4px; }
.legend i.win { background: #fff1c2; border: 1px solid #e3c567; }
.legend i.wait { background: repeating-linear-gradient(45deg, #c9ced6 0 2px, #f3f4f6 2px 5px); }
.legend i.fix { background: #8c959f; opacity: .45; }
.legend i.hold { background: #7c6fd6; opacity: .55; }
.legend i.rwait { background: #e8912d; opacity: .45; }
#find { margin-left: auto; padding: 3px 8px; border: 1px solid var(--line); border-radius: 6px; min-width: 220px; }
.timeline { width: 100%; overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.timeline svg { display: block; width: 100%; height: auto; min-width: 900px; }
svg text { font-size: 11px; fill: var(--muted); }
svg .axis line { stroke: #eaeef2; }
svg .row { fill: #fafbfc; }
svg .row.odd { fill: #f3f5f7; }
svg .win { fill: #fff1c2; fill-opacity: .75; stroke: #e3c567; stroke-width: .5; }
svg .win-label { fill: #7d5d00; font-weight: 600; }
svg .wait { fill: url(#hatch); }
svg .fix { fill: #8c959f; fill-opacity: .45; }
svg .hold { fill: #7c6fd6; fill-opacity: .55; stroke: #fff; stroke-width: .5; }
svg .rwait { fill: #e8912d; fill-opacity: .3; }
svg .try { fill-opacity: .45; }
svg .bar { stroke: #fff; stroke-width: .4; }
svg.dense .bar { stroke: none; }
svg .bar:hover { stroke: #000; stroke-width: 1.2; }
svg .bar.dim { opacity: .12; }
.o-PASS { fill: var(--PASS); background: var(--PASS); }
.o-SKIP { fill: var(--SKIP); background: var(--SKIP); }
.o-FLAKY { fill: var(--FLAKY); background: var(--FLAKY); }
.o-FAIL { fill: var(--FAIL); background: var(--FAIL); }
.o-TIMEOUT { fill: var(--TIMEOUT); background: var(--TIMEOUT); }
.o-CRASH { fill: var(--CRASH); background: var(--CRASH); }
.o-ERROR { fill: var(--ERROR); background: var(--ERROR); }
.o-NOT_RUN { fill: var(--NOT_RUN); background: var(--NOT_RUN); }
.failure { border: 1px solid var(--line); border-left: 4px solid var(--FAIL); border-radius: 6px; margin: 8px 0; background: #fff; }
.failure.TIMEOUT { border-left-color: var(--TIMEOUT); } .failure.CRASH { border-left-color: var(--CRASH); }
.failure.ERROR { border-left-color: var(--ERROR); } .failure.NOT_RUN { border-left-color: var(--NOT_RUN); }
.failure summary { cursor: pointer; padding: 6px 10px; }
.failure summary b { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.failure .meta { color: var(--muted); padding: 0 10px 6px; }
.failure pre { margin: 0; padding: 8px 10px; max-height: 420px; overflow: auto; background: var(--panel);
  border-top: 1px solid var(--line); white-space: pre-wrap; word-break: break-all; }
.note { color: var(--muted); font-style: italic; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td .chip { font-size: 11px; padding: 0 6px; }
.warnings li { color: #7d4e00; }
)CSS";

/// Runs first: counts uncaught errors into <html data-js-errors>, so a check of the DOM sees them.
inline constexpr const char* kErrorWatch = R"JS(
(function () {
  var root = document.documentElement;
  root.setAttribute('data-js-errors', '0');
  function count(message) {
    var n = Number(root.getAttribute('data-js-errors') || 0) + 1;
    root.setAttribute('data-js-errors', String(n));
    root.setAttribute('data-js-last-error', String(message).slice(0, 200));
  }
  window.addEventListener('error', function (e) { count(e.message || 'error'); });
  window.addEventListener('unhandledrejection', function (e) { count(e.reason || 'rejection'); });
})();
)JS";

/// Runs last: the name and label filter over the timeline's bars, then <body data-js="ready">.
inline constexpr const char* kPageScript = R"JS(
(function () {
  var bars = document.querySelectorAll('svg .bar');
  var find = document.getElementById('find');
  var shown = document.getElementById('find-count');
  if (find) {
    find.addEventListener('input', function () {
      var q = find.value.trim().toLowerCase();
      var hits = 0;
      for (var i = 0; i < bars.length; ++i) {
        var text = (bars[i].getAttribute('data-test') || '') + '\n' + (bars[i].getAttribute('data-labels') || '');
        var match = !q || text.toLowerCase().indexOf(q) >= 0;
        bars[i].classList.toggle('dim', !match);
        if (match) ++hits;
      }
      shown.textContent = q ? hits + ' of ' + bars.length + ' tests' : '';
    });
  }
  document.body.setAttribute('data-bars', String(bars.length));
  document.body.setAttribute('data-js', 'ready');
})();
)JS";

}  // namespace mpexec::html_template
