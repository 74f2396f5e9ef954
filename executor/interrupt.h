#pragma once
// SIGINT and SIGTERM turn into a flag and a readable fd that the dispatch loop watches.

namespace mpexec {

class InterruptWatch {
 public:
  /// Installs the handlers (once per process). SIGPIPE is ignored from then on.
  InterruptWatch();
  ~InterruptWatch();
  InterruptWatch(const InterruptWatch&) = delete;
  InterruptWatch& operator=(const InterruptWatch&) = delete;

  /// Readable once a signal has arrived.
  int fd() const;
  bool triggered() const;
  /// The signal that arrived first, or 0.
  int signal() const;
  /// Whether a signal has arrived, for code that has no InterruptWatch at hand (a wait outside the loop).
  static bool pending();
};

}  // namespace mpexec
