#include "executor/batch_run.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace mpexec {

namespace {

Outcome fromProtocol(sync::ResultOutcome o) {
  switch (o) {
    case sync::ResultOutcome::Pass: return Outcome::Pass;
    case sync::ResultOutcome::Fail: return Outcome::Fail;
    case sync::ResultOutcome::Skip: return Outcome::Skip;
    case sync::ResultOutcome::Error: return Outcome::Error;
  }
  return Outcome::Error;
}

Outcome fromJunit(JunitCase::Result r) {
  switch (r) {
    case JunitCase::Result::Pass: return Outcome::Pass;
    case JunitCase::Result::Skip: return Outcome::Skip;
    case JunitCase::Result::Fail: return Outcome::Fail;
    case JunitCase::Result::Error: return Outcome::Error;
  }
  return Outcome::Error;
}

std::string signalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return fmt::format("signal {} ({})", sig, abbrev ? abbrev : "?");
}

}  // namespace

BatchRun::BatchRun(const Manifest& m, std::vector<size_t> tests, bool alone) : m_(m) {
  (alone ? alone_ : pending_).assign(tests.begin(), tests.end());
}

const std::vector<size_t>& BatchRun::startNext(int64_t at_us) {
  current_.clear();
  if (!alone_.empty()) {
    current_.push_back(alone_.front());
    alone_.pop_front();
  } else {
    current_.assign(pending_.begin(), pending_.end());
    pending_.clear();
    std::sort(current_.begin(), current_.end());  // manifest order
  }
  slots_.clear();
  slot_of_.clear();
  for (size_t t : current_) {
    slot_of_[t] = slots_.size();
    Slot slot;
    slot.test = t;
    slots_.push_back(slot);
  }
  if (!current_.empty()) ++process_;
  start_us_ = last_us_ = at_us;
  last_off_ = 0;
  return current_;
}

void BatchRun::processStarted(int64_t at_us) {
  // The init's clock of the start; reports that came before it keep theirs.
  if (last_us_ == start_us_) last_us_ = at_us;
  start_us_ = at_us;
}

BatchRun::Slot* BatchRun::slot(size_t test) {
  auto it = slot_of_.find(test);
  return it == slot_of_.end() ? nullptr : &slots_[it->second];
}

int64_t BatchRun::timeoutUs(size_t test) const { return int64_t(m_.tests[test].settings.timeout_s * 1e6); }

void BatchRun::reportAt(int64_t at_us, int64_t offset) {
  last_us_ = std::max(last_us_, at_us);
  if (offset >= 0) last_off_ = std::max(last_off_, offset);
}

void BatchRun::started(size_t test, int64_t at_us, int64_t offset, bool from_line, BatchEvents& out) {
  Slot* s = slot(test);
  if (!s || s->reported || s->end_us >= 0 || s->start_us >= 0) return;
  if (from_line) {
    // Output is sequential: a new test's line ends the one an earlier line started.
    for (Slot& o : slots_)
      if (o.by_line && o.start_us >= 0 && o.end_us < 0 && !o.reported) {
        o.end_us = at_us;
        o.end_off = offset;
      }
  }
  s->start_us = at_us;
  s->start_off = offset;
  s->by_line = from_line;
  reportAt(at_us, offset);
  out.started.emplace_back(test, at_us);
}

void BatchRun::finished(size_t test, const sync::FinishedResult& r, int64_t at_us, int64_t offset, BatchEvents& out) {
  Slot* s = slot(test);
  if (!s || s->reported) return;
  BatchResult res;
  res.test = test;
  TestRecord& rec = res.record;
  rec.outcome = fromProtocol(r.outcome);
  rec.reason = r.message;
  rec.note = r.note;
  rec.end_us = at_us;
  if (s->start_us >= 0) {
    rec.start_us = s->start_us;
  } else {
    // Started with the previous report, or duration_s before now when that is later.
    rec.start_us = last_us_;
    if (r.duration_s) rec.start_us = std::max(last_us_, at_us - int64_t(*r.duration_s * 1e6));
    rec.start_us = std::min(rec.start_us, at_us);
    res.announce = true;
  }
  if (!r.output.empty()) {
    res.text = r.output;
  } else {
    res.slice_from = s->start_off >= 0 ? s->start_off : last_off_;
    res.slice_to = offset;
  }
  s->reported = true;
  s->end_us = at_us;
  reportAt(at_us, offset);
  out.finished.push_back(std::move(res));
}

void BatchRun::lineFinished(size_t test, Outcome o, int64_t at_us, int64_t end_offset) {
  Slot* s = slot(test);
  if (!s || s->reported || s->line_outcome) return;
  if (s->start_us < 0) {
    s->start_us = last_us_;
    s->start_off = last_off_;
  }
  if (s->end_us < 0) {
    s->end_us = at_us;
    s->end_off = end_offset;
  }
  s->line_outcome = o;
  reportAt(at_us, end_offset);
}

std::vector<std::string> BatchRun::currentIds() const {
  std::vector<std::string> ids;
  for (size_t t : current_) ids.push_back(m_.tests[t].id);
  return ids;
}

int64_t BatchRun::deadlineUs() const {
  constexpr int64_t kYearUs = int64_t(365) * 24 * 3600 * 1'000'000;
  int64_t earliest = std::numeric_limits<int64_t>::max();
  int64_t rest = 0;
  for (const Slot& s : slots_) {
    if (s.reported || s.end_us >= 0) continue;
    if (s.start_us >= 0) {
      earliest = std::min(earliest, s.start_us + timeoutUs(s.test));
    } else {
      rest = std::min(kYearUs, rest + timeoutUs(s.test));
    }
  }
  if (earliest != std::numeric_limits<int64_t>::max()) return earliest;
  return last_us_ + rest;
}

void BatchRun::ended(const BatchProcessEnd& end, int64_t at_us, const JunitFile* junit,
                     const std::string& junit_problem, const std::string& log, BatchEvents& out) {
  const int st = end.wait_status;
  const bool exited = end.how == BatchProcessEnd::How::Exited && !end.timed_out && WIFEXITED(st);
  const bool signaled = end.how == BatchProcessEnd::How::Exited && !end.timed_out && WIFSIGNALED(st);
  // "batch process 2", and where its output is, for the reasons below.
  const std::string process = fmt::format("batch process {}", process_);
  const std::string output = "its output: " + log;

  auto junitCase = [&](size_t test) -> const JunitCase* {
    if (!junit) return nullptr;
    auto j = junit->by_id.find(m_.tests[test].id);
    return j == junit->by_id.end() ? nullptr : &j->second;
  };

  // What each test of the process is now: reported by a channel, the culprit, or not reached.
  struct Settled {
    Slot* s;
    const JunitCase* junit = nullptr;
  };
  std::vector<Settled> reported;
  std::vector<Slot*> culprits, unreached;
  bool any_report = false;
  for (Slot& s : slots_) {
    if (s.reported) {
      any_report = true;
      continue;
    }
    if (const JunitCase* j = junitCase(s.test)) {
      reported.push_back({&s, j});
    } else if (s.line_outcome) {
      reported.push_back({&s, nullptr});
    } else if (s.start_us >= 0 && s.end_us < 0) {
      culprits.push_back(&s);
    } else {
      unreached.push_back(&s);
    }
  }
  any_report |= !reported.empty();

  // Reported at the end: laid out one after another from the process's start where no channel timed them.
  int64_t cursor = start_us_;
  for (const Settled& r : reported) {
    Slot& s = *r.s;
    BatchResult res;
    res.test = s.test;
    TestRecord& rec = res.record;
    if (r.junit) {
      rec.outcome = fromJunit(r.junit->result);
      rec.reason = r.junit->message;
      res.text = r.junit->output;
    } else {
      rec.outcome = *s.line_outcome;
    }
    rec.start_us = s.start_us >= 0 ? s.start_us : std::max(cursor, start_us_);
    int64_t took = r.junit && r.junit->time_s ? int64_t(*r.junit->time_s * 1e6) : 0;
    rec.end_us = s.end_us >= 0 ? s.end_us : std::min(at_us, rec.start_us + took);
    rec.start_us = std::min(rec.start_us, rec.end_us);
    cursor = rec.end_us;
    if (res.text.empty() && s.start_off >= 0) {
      res.slice_from = s.start_off;
      res.slice_to = s.end_off;
    }
    res.announce = true;
    s.reported = true;
    out.finished.push_back(std::move(res));
  }

  // A test mpexec gives an outcome it decided: the reason also ends its log.
  auto decide = [&](Slot& s, Outcome o, std::string reason, bool ran) {
    BatchResult res;
    res.test = s.test;
    TestRecord& rec = res.record;
    rec.outcome = o;
    rec.reason = std::move(reason);
    if (exited && o != Outcome::NotRun) rec.exit_code = WEXITSTATUS(st);
    if (signaled && o == Outcome::Crash) rec.signal = WTERMSIG(st);
    if (end.timed_out && o == Outcome::Timeout && WIFSIGNALED(st)) rec.signal = WTERMSIG(st);
    rec.end_us = at_us;
    if (ran) {
      rec.start_us = s.start_us >= 0 ? s.start_us : start_us_;
      rec.end_us = std::max(rec.end_us, rec.start_us);  // a line read after the exit has a later stamp
      res.announce = s.start_us < 0;
      res.slice_from = s.start_off >= 0 ? s.start_off : 0;
    }
    res.text = "[mpexec: " + rec.reason + "]\n";
    s.reported = true;
    out.finished.push_back(std::move(res));
  };
  auto later = [&](std::vector<Slot*>& slots, std::deque<size_t>& where) {
    for (Slot* s : slots) where.push_back(s->test);
  };
  const bool one = slots_.size() == 1;
  std::string junit_note = junit_problem.empty() ? "" : "; the JUnit file: " + junit_problem;
  // A runner whose names are not its ids reports nothing: say what it wrote instead.
  if (junit && junit->ignored > 0)
    junit_note += fmt::format("; the JUnit file: {} testcase{} for none of the process's ids", junit->ignored,
                              junit->ignored == 1 ? "" : "s");

  if (end.how == BatchProcessEnd::How::SpawnFailed) {
    // The same command would fail again for the rest, too.
    abandon("cannot start: " + end.detail, out);
    return;
  } else if (end.timed_out) {
    if (!culprits.empty()) {
      auto first = std::min_element(culprits.begin(), culprits.end(), [&](Slot* a, Slot* b) {
        return a->start_us + timeoutUs(a->test) < b->start_us + timeoutUs(b->test);
      });
      Slot* culprit = *first;
      culprits.erase(first);
      decide(*culprit, Outcome::Timeout,
             fmt::format("timeout after {:g}s; {} was killed ({})", m_.tests[culprit->test].settings.timeout_s,
                         process, output),
             true);
      later(culprits, pending_);
      later(unreached, pending_);
    } else if (one && !unreached.empty()) {
      decide(*unreached[0], Outcome::Timeout,
             fmt::format("timeout after {:g}s; {} was killed ({})", m_.tests[unreached[0]->test].settings.timeout_s,
                         process, output),
             true);
    } else {
      later(unreached, alone_);
    }
  } else if (signaled) {
    if (culprits.size() == 1) {
      decide(*culprits[0], Outcome::Crash, fmt::format("{} in {} ({})", signalName(WTERMSIG(st)), process, output), true);
      later(unreached, pending_);
    } else if (!culprits.empty()) {
      later(culprits, alone_);
      later(unreached, pending_);
    } else if (one && !unreached.empty()) {
      decide(*unreached[0], Outcome::Crash, fmt::format("{} in {} ({})", signalName(WTERMSIG(st)), process, output),
             true);
    } else {
      later(unreached, alone_);
    }
  } else {
    const int code = exited ? WEXITSTATUS(st) : -1;
    if (culprits.size() == 1) {
      decide(*culprits[0], Outcome::Fail,
             fmt::format("{} exited (status {}) while it ran, without a result ({})", process, code, output),
             true);
      later(unreached, pending_);
    } else if (!culprits.empty()) {
      later(culprits, alone_);
      later(unreached, pending_);
    } else if (!any_report && code != 0) {
      for (Slot* s : unreached)
        decide(*s, Outcome::Error,
               fmt::format("{} exited (status {}) without reporting any test ({}{})", process, code, output, junit_note),
               false);
    } else {
      for (Slot* s : unreached)
        decide(*s, Outcome::NotRun,
               fmt::format("not reported by {}, which exited (status {}) ({}{})", process, code, output, junit_note),
               false);
    }
  }
  current_.clear();
  slots_.clear();
  slot_of_.clear();
}

void BatchRun::abandon(const std::string& why, BatchEvents& out) {
  std::vector<size_t> left;
  for (const Slot& s : slots_)
    if (!s.reported) left.push_back(s.test);
  left.insert(left.end(), pending_.begin(), pending_.end());
  left.insert(left.end(), alone_.begin(), alone_.end());
  std::sort(left.begin(), left.end());
  for (size_t t : left) {
    BatchResult res;
    res.test = t;
    res.record.outcome = Outcome::Error;
    res.record.reason = why;
    res.text = "[mpexec: " + why + "]\n";
    out.finished.push_back(std::move(res));
  }
  current_.clear();
  slots_.clear();
  slot_of_.clear();
  pending_.clear();
  alone_.clear();
}

}  // namespace mpexec
