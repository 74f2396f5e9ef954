// The `--gtest_list_tests` listing parser (executor/gtest_list.cc) on arbitrary output. Every case it
// returns is "Suite.Case", without blanks, enabled, and a valid test name once the binary's name is put
// before it; a listing it refuses gets a message a terminal can show.

#include "executor/gtest_list.h"
#include "executor/manifest.h"
#include "executor/printable.h"
#include "executor/utf8.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/oracle.h"

using namespace mpexec;
using namespace mpexec::fuzz;

MPEXEC_FUZZ_TARGET(gtest_list) {
  Result<std::vector<std::string>> cases = parseGtestListing(input);
  if (!cases.ok()) {
    const std::string msg = cases.error().message();
    FUZZ_CHECK(isPrintable(msg), "message {}", printable(msg));
    return;
  }
  std::size_t lines = 1;
  for (char c : input) lines += c == '\n';
  FUZZ_CHECK(cases->size() <= lines, "{} cases from {} lines", cases->size(), lines);
  for (const std::string& c : *cases) {
    FUZZ_CHECK(isValidUtf8(c) && isValidTestName("bin." + c), "case {}", printable(c));
    FUZZ_CHECK(c.find(' ') == std::string::npos && c.find('\t') == std::string::npos, "blank in {}", printable(c));
    FUZZ_CHECK(c.find('.') != std::string::npos, "not Suite.Case: {}", printable(c));
    // gtest's rule, on suite and case apart; a '.' inside either (never in gtest's own names) hides which
    // part a ".DISABLED_" starts, so only these two are certain.
    FUZZ_CHECK(!c.starts_with("DISABLED_") && c.find("/DISABLED_") == std::string::npos, "disabled case {}", printable(c));
  }
}
