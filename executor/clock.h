#pragma once

#include <time.h>

#include <cstdint>

namespace mpexec {

inline int64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// Times in reports are microseconds since the run started (CLOCK_MONOTONIC, shared with the inits).
struct RunClock {
  int64_t start_ns = monotonicNs();
  int64_t toUs(int64_t mono_ns) const { return (mono_ns - start_ns) / 1000; }
  int64_t nowUs() const { return toUs(monotonicNs()); }
};

}  // namespace mpexec
