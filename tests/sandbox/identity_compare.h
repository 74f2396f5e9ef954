#pragma once
// The identity suite's comparison (tests/sandbox/identity_test.cc, and nonroot_test.cc for a user's run):
// two runs of [A, B] at -j1, each unit printing tests/sandbox/identity_program.h's observations, one with a
// new sandbox per unit; what tells A from B there must tell them apart in the other run too.

#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace mpexec::test::escape {

using Observations = std::map<std::string, std::string>;

inline Observations parse(const std::string& log) {
  Observations out;
  std::istringstream in(log);
  for (std::string l; std::getline(in, l);)
    if (auto eq = l.find('='); eq != std::string::npos) out[l.substr(0, eq)] = l.substr(eq + 1);
  return out;
}

inline bool refused(const std::string& v) { return v.rfind("refused:", 0) == 0; }

struct Pair {
  Observations a, b;
  std::string out;  ///< mpexec's output (-v)
};

/// Every observation that tells A from B in `fresh` (they differ, or either is refused) but not in `run`
/// (equal and readable); and every "shape." observation of B that differs from B's in `fresh`. One line
/// each, with the values.
inline std::vector<std::string> tells(const Pair& fresh, const Pair& run) {
  std::vector<std::string> out;
  for (const auto& [key, fa] : fresh.a) {
    auto fb = fresh.b.count(key) ? fresh.b.at(key) : "(none)";
    auto ra = run.a.count(key) ? run.a.at(key) : "(none)";
    auto rb = run.b.count(key) ? run.b.at(key) : "(none)";
    // Equal in two new sandboxes too: times made within the same 10 ms, inode numbers given lowest free first.
    if (key.rfind("coarse.", 0) == 0 || key.rfind("reused.", 0) == 0) continue;
    if (key.rfind("shape.", 0) == 0) {
      if (rb != fb) out.push_back(key + ": B reads " + rb + ", in a new sandbox " + fb);
      continue;
    }
    bool apart_fresh = fa != fb || refused(fa) || refused(fb);
    bool apart_run = ra != rb || refused(ra) || refused(rb);
    if (apart_fresh && !apart_run)
      out.push_back(key + ": A and B both read " + ra + " (in new sandboxes " + fa + " and " + fb + ")");
  }
  for (const auto& [key, rb] : run.b)
    if (key.rfind("shape.", 0) == 0 && !fresh.b.count(key))
      out.push_back(key + ": B reads " + rb + ", unreadable in a new sandbox");
  return out;
}

inline std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += "  " + x + "\n";
  return s;
}

}  // namespace mpexec::test::escape
