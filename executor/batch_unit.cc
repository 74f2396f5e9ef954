#include "executor/batch_unit.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <re2/re2.h>

#include "executor/batch_command.h"
#include "executor/junit_reader.h"
#include "executor/local_runner.h"

namespace mpexec {

BatchUnit::BatchUnit(const BatchSite& site, const BatchSpec& spec, size_t unit, std::string unit_id,
                     std::vector<size_t> tests, int attempt, sandbox::CommandSpec base, UniqueFd out_dir)
    : site_(site),
      spec_(spec),
      unit_(unit),
      unit_id_(std::move(unit_id)),
      attempt_(attempt),
      run_(site.m, std::move(tests), attempt > 1),
      base_(std::move(base)),
      out_dir_(std::move(out_dir)) {}

std::optional<std::string> BatchUnit::startFirst(sandbox::CommandSpec& c) {
  run_.startNext(site_.clock.nowUs());
  return nextProcess(c);
}

void BatchUnit::slotKnown(int slot) {
  for (std::string& kv : base_.env)
    if (kv == "MPEXEC_SLOT=") kv += std::to_string(slot);
}

std::optional<std::string> BatchUnit::nextProcess(sandbox::CommandSpec& c) {
  const Manifest& m = site_.m;
  const uint32_t k = run_.process();
  const std::string suffix = attempt_ > 1 ? fmt::format("{}.attempt{}", k, attempt_) : std::to_string(k);
  const std::string out_dir = site_.paths.run_dir + "/out/" + unit_id_;
  const std::string ids_name = "batch." + suffix + ".ids";
  junit_name_ = "batch." + suffix + ".junit.xml";
  log_name_ = unit_id_ + ".batch." + suffix + ".log";
  if (!out_dir_) return "cannot open the unit's output directory " + out_dir + ": " + strerror(errno);
  std::vector<std::string> ids;
  std::string listing;
  ids_.clear();
  for (size_t t : run_.current()) {
    ids.push_back(m.tests[t].id);
    listing += m.tests[t].id + "\n";
    ids_.emplace(m.tests[t].id, t);
  }
  // The output directory is the unit's to write: nothing there is followed or trusted (DESIGN §4).
  unlinkat(out_dir_.get(), ids_name.c_str(), 0);
  UniqueFd ids_fd(openat(out_dir_.get(), ids_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!ids_fd || write(ids_fd.get(), listing.data(), listing.size()) != ssize_t(listing.size()))
    return fmt::format("cannot write {}/{}: {}", out_dir, ids_name, strerror(errno));
  if (unlinkat(out_dir_.get(), junit_name_.c_str(), 0) < 0 && errno != ENOENT)
    return fmt::format("cannot remove {}/{}: {}", out_dir, junit_name_, strerror(errno));
  log_.reset(openat(site_.logs_dir_fd, log_name_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!log_) return fmt::format("cannot create {}/{}: {}", site_.paths.log_prefix, log_name_, strerror(errno));
  lines_read_ = 0;
  partial_line_.clear();
  sent_deadline_ = -1;

  c = base_;
  c.argv = expandBatchCommand(spec_.cmd, ids, out_dir + "/" + junit_name_);
  c.env.push_back("MPEXEC_BATCH_IDS_FILE=" + out_dir + "/" + ids_name);
  c.env.push_back("MPEXEC_BATCH_JUNIT=" + out_dir + "/" + junit_name_);
  c.env.push_back("MPEXEC_BATCH_PROCESS=" + std::to_string(k));
  // The init's own deadline until mpexec moves it: the sum of the tests' timeouts.
  int64_t sum_ms = 0;
  for (size_t t : run_.current())
    sum_ms = std::min<int64_t>(sum_ms + int64_t(m.tests[t].settings.timeout_s * 1000), int64_t(365) * 24 * 3600 * 1000);
  c.timeout_ms = std::max<int64_t>(1, sum_ms);
  c.log_name = log_name_;
  if (site_.board) site_.board->open(unit_id_, k, ids_, log_.get());
  return std::nullopt;
}

std::optional<sandbox::CommandSpec> BatchUnit::ended(const sandbox::Event& ev, std::vector<RunnerEvent>& out) {
  BatchProcessEnd end;
  if (ev.kind == sandbox::Event::Kind::SpawnFailed) {
    end.how = BatchProcessEnd::How::SpawnFailed;
    end.detail = fmt::format("{}: {}", ev.detail, strerror(ev.err));
  } else {
    end.wait_status = ev.wait_status;
    end.timed_out = ev.timed_out;
  }
  std::optional<JunitFile> junit;
  std::string junit_problem;
  if (out_dir_) {
    auto read = readJunitFile(out_dir_.get(), junit_name_, run_.currentIds());
    if (!read.ok()) {
      junit_problem = read.error().message();
    } else if (*read) {
      junit = std::move(**read);
      junit_problem = junit->problem;
    }
  }
  BatchEvents be;
  run_.ended(end, site_.clock.toUs(ev.mono_ns), junit ? &*junit : nullptr, junit_problem,
             site_.paths.log_prefix + "/" + log_name_, be);
  if (site_.board) site_.board->close(unit_id_);
  emit(be, out);
  if (!run_.done()) {
    run_.startNext(site_.clock.nowUs());
    sandbox::CommandSpec c;
    if (auto why = nextProcess(c)) {
      BatchEvents left;
      run_.abandon(*why, left);
      emit(left, out);
    } else {
      return c;
    }
  }
  log_.reset();
  return std::nullopt;
}

void BatchUnit::abandon(const std::string& why, std::vector<RunnerEvent>& out) {
  BatchEvents be;
  run_.abandon(why, be);
  emit(be, out);
}

void BatchUnit::report(const LiveReport& rep, std::vector<RunnerEvent>& out) {
  BatchEvents be;
  if (rep.started) {
    run_.started(rep.test, rep.at_us, rep.log_offset, false, be);
  } else {
    run_.finished(rep.test, rep.result, rep.at_us, rep.log_offset, be);
  }
  emit(be, out);
}

void BatchUnit::lines(bool all, std::vector<RunnerEvent>& out) {
  const BatchLines& lines = spec_.lines;
  if (!lines.any() || !log_) return;
  constexpr size_t kMaxLine = 64 * 1024;
  BatchEvents be;
  const int64_t now = site_.clock.nowUs();
  auto match = [&](std::string_view line, int64_t from, int64_t to) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    re2::StringPiece m[2];
    auto test = [&](const std::optional<LinePattern>& p) -> std::optional<size_t> {
      if (!p || !p->re->Match(re2::StringPiece(line.data(), line.size()), 0, line.size(), RE2::UNANCHORED, m, 2) ||
          m[1].data() == nullptr)
        return std::nullopt;
      auto it = ids_.find(std::string(m[1].data(), m[1].size()));
      if (it == ids_.end()) return std::nullopt;
      return it->second;
    };
    if (auto t = test(lines.started)) run_.started(*t, now, from, true, be);
    const std::pair<const std::optional<LinePattern>*, Outcome> ends[] = {
        {&lines.pass, Outcome::Pass}, {&lines.fail, Outcome::Fail}, {&lines.skip, Outcome::Skip},
        {&lines.error, Outcome::Error}};
    for (const auto& [p, o] : ends)
      if (auto t = test(*p)) run_.lineFinished(*t, o, now, to);
  };
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = pread(log_.get(), buf, sizeof buf, lines_read_);
    if (n <= 0) break;
    int64_t base = lines_read_ - int64_t(partial_line_.size());
    lines_read_ += n;
    partial_line_.append(buf, size_t(n));
    size_t pos = 0, nl;
    while ((nl = partial_line_.find('\n', pos)) != std::string::npos) {
      match(std::string_view(partial_line_).substr(pos, nl - pos), base + int64_t(pos), base + int64_t(nl) + 1);
      pos = nl + 1;
    }
    partial_line_.erase(0, pos);
    if (partial_line_.size() > kMaxLine) partial_line_.clear();  // a line this long is not a test's
  }
  if (all && !partial_line_.empty()) {
    int64_t base = lines_read_ - int64_t(partial_line_.size());
    match(partial_line_, base, lines_read_);
    partial_line_.clear();
  }
  emit(be, out);
}

std::optional<int64_t> BatchUnit::movedDeadlineNs() {
  if (run_.current().empty()) return std::nullopt;
  int64_t d = run_.deadlineUs();
  if (d == sent_deadline_) return std::nullopt;
  sent_deadline_ = d;
  return site_.clock.start_ns + d * 1000;
}

void BatchUnit::emit(BatchEvents& ev, std::vector<RunnerEvent>& out) {
  auto started = [&](size_t t, int64_t at) {
    RunnerEvent s;
    s.kind = RunnerEvent::Kind::TestStarted;
    s.unit = unit_;
    s.test = t;
    s.at_us = at;
    out.push_back(std::move(s));
  };
  for (const auto& [t, at] : ev.started) started(t, at);
  for (BatchResult& res : ev.finished) {
    if (res.announce && res.record.start_us >= 0) started(res.test, res.record.start_us);
    // The test's own log: its part of the process's output, then what the channel or mpexec says.
    std::string name = site_.log_name(res.test, attempt_);
    UniqueFd fd(openat(site_.logs_dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (fd && res.slice_from >= 0 && log_) {
      char buf[64 * 1024];
      for (int64_t at = res.slice_from; res.slice_to < 0 || at < res.slice_to;) {
        size_t want = res.slice_to < 0 ? sizeof buf : size_t(std::min<int64_t>(int64_t(sizeof buf), res.slice_to - at));
        ssize_t n = pread(log_.get(), buf, want, at);
        if (n <= 0 || write(fd.get(), buf, size_t(n)) != n) break;
        at += n;
      }
    }
    if (fd && !res.text.empty()) (void)!write(fd.get(), res.text.data(), res.text.size());
    RunnerEvent f;
    f.kind = RunnerEvent::Kind::TestFinished;
    f.unit = unit_;
    f.test = res.test;
    f.record = std::move(res.record);
    f.record.log = site_.paths.log_prefix + "/" + name;
    f.record.attempts = attempt_;
    out.push_back(std::move(f));
  }
  ev.started.clear();
  ev.finished.clear();
}

}  // namespace mpexec
