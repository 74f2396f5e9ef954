// What a test prints, judged by pass_regex, fail_regex and skip_regex (executor/output_rules.cc,
// executor/outcome.cc). The input's first three lines are a pass, a fail and a skip pattern (an empty line:
// none; a pattern must be UTF-8, as a manifest's strings are), the rest is the test's output, any bytes; its
// first byte chooses the exit code and will_fail. The output the rules read has no NUL and no carriage
// return before a newline, and ends with a newline; the reason, which the reports and the terminal show,
// is valid UTF-8 and bounded; the outcome is the one CTest's rules give.

#include <string>

#include "executor/manifest.h"
#include "executor/outcome.h"
#include "executor/output_rules.h"
#include "executor/printable.h"
#include "executor/utf8.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/oracle.h"

using namespace mpexec;
using namespace mpexec::fuzz;

namespace {

std::string_view nextLine(std::string_view& input) {
  std::size_t nl = input.find('\n');
  std::string_view line = input.substr(0, nl);
  input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
  return line;
}

}  // namespace

MPEXEC_FUZZ_TARGET(output_rules) {
  TestSpec t;
  t.name = "t";
  std::vector<OutputPattern>* rules[] = {&t.output_rules.pass, &t.output_rules.fail, &t.output_rules.skip};
  std::size_t pattern_bytes = 0;
  for (auto* rule : rules) {
    std::string_view text = nextLine(input);
    if (text.empty() || !isValidUtf8(text) || text.find('\0') != std::string_view::npos) continue;
    auto p = compileOutputPattern(std::string(text));
    if (!p.ok()) continue;
    pattern_bytes += text.size();
    rule->push_back(std::move(*p));
  }
  const unsigned char first = input.empty() ? 0 : static_cast<unsigned char>(input[0]);
  const int code = first % 4 == 3 ? 77 : first % 4;
  t.will_fail = (first & 4) != 0;

  const std::string read = outputForRules(input);
  FUZZ_CHECK(read.find('\0') == std::string::npos, "a NUL in the output the rules read");
  FUZZ_CHECK(read.find("\r\n") == std::string::npos, "a carriage return before a newline");
  FUZZ_CHECK(read.empty() || read.back() == '\n', "the output the rules read does not end with a newline");
  FUZZ_CHECK(read.size() <= input.size() + 1, "{} bytes read from {}", read.size(), input.size());

  CommandEnd end;
  end.wait_status = code << 8;  // exited with `code`
  end.output = std::string(input);
  const Classified c = classify(t, end);
  FUZZ_CHECK(isValidUtf8(c.reason), "reason not UTF-8: {}", printable(c.reason));
  FUZZ_CHECK(c.reason.size() <= 12 * pattern_bytes + 4096, "a reason of {} bytes", c.reason.size());
  FUZZ_CHECK(c.exit_code == code, "exit code {} for {}", c.exit_code.value_or(-1), code);

  // CTest's rules (docs/manifest.md), apart from classify().
  const bool pass_matched = firstMatch(t.output_rules.pass, read).has_value();
  const bool fail_matched = firstMatch(t.output_rules.fail, read).has_value();
  const bool skip_matched = firstMatch(t.output_rules.skip, read).has_value();
  const bool failed = fail_matched || (!t.output_rules.pass.empty() ? !pass_matched : code != 0);
  Outcome expected = skip_matched || code == 77 ? Outcome::Skip : failed != t.will_fail ? Outcome::Fail : Outcome::Pass;
  FUZZ_CHECK(c.outcome == expected, "{} where the rules give {} (exit {}, will_fail {}, pass {}, fail {}, skip {})",
             outcomeName(c.outcome), outcomeName(expected), code, t.will_fail, pass_matched, fail_matched, skip_matched);
}
