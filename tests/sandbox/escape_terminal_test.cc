// Issue 17, item 9, in the escape suite's manner: a test's output and the names mpexec did not write
// (gtest case names) carry terminal control sequences — OSC 0 (window title), OSC 52 (clipboard write),
// CSI (clear the screen), C1 controls, carriage returns and invalid UTF-8 — and none of it reaches the
// user's terminal raw: mpexec's output, its JUnit XML and its HTML page show it escaped.

#include <gtest/gtest.h>

#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

/// The first byte sequence in `text` a terminal could act on (C0 other than newline and tab, DEL, a C1
/// control as a byte or as UTF-8, a byte of invalid UTF-8), described with its offset; empty if none.
std::string firstRawControl(const std::string& text) {
  auto at = [&](size_t i, const char* what) {
    size_t from = i < 40 ? 0 : i - 40;
    std::string around = text.substr(from, 80);
    for (char& c : around)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
    return std::string(what) + " at byte " + std::to_string(i) + ": ..." + around + "...";
  };
  for (size_t i = 0; i < text.size();) {
    unsigned char c = text[i];
    if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F)) {
      ++i;
      continue;
    }
    if (c < 0x20 || c == 0x7F) return at(i, "a C0 control or DEL");
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || i + len > text.size()) return at(i, "invalid UTF-8");
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return at(i, "invalid UTF-8");
    if (c == 0xC2 && static_cast<unsigned char>(text[i + 1]) <= 0x9F) return at(i, "a C1 control (UTF-8)");
    i += len;
  }
  return "";
}

// What a hostile test prints: OSC 0, OSC 52, CSI 2J, a UTF-8 C1 CSI, a bare 8-bit CSI, a carriage return
// that would hide the line's start, and two bytes of invalid UTF-8.
constexpr const char* kHostileOutput =
    R"(printf 'title\033]0;PWNED-TITLE\007clip\033]52;c;cHduZWQ=\007clear\033[2J\033[Hc1\302\2332Jbyte\233Xcr\rover\377\376end\n'; )"
    R"(printf 'stderr\033[31mred\033[0m\033]0;ERR-TITLE\007\n' >&2; exit 1)";

constexpr const char* kFakeGtest = R"(#!/bin/sh
case "$1" in
  --gtest_list_tests) printf 'Evil.\n  Case\033]0;GTEST-TITLE\007\n' ;;
  *) printf 'case output\033]52;c;Z3Rlc3Q=\007\n'; exit 1 ;;
esac
)";

class EscapeTerminal : public EscapeTest {};

TEST_F(EscapeTerminal, Issue17Item9_ControlSequencesNeverReachTheTerminalRaw) {
  std::string gtest = dir_.write("fake_gtest.sh", kFakeGtest, true);
  json::array tests{shTest("hostile", kHostileOutput), json::object{{"gtest", gtest}}};
  std::string m = writeManifest(tests);
  std::string junit = dir_.path() + "/junit.xml", html = dir_.path() + "/report.html";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--junit", junit, "--html", html}, std::vector<std::string>{"--output", "streamed"},
        std::vector<std::string>{"--output", "all", "-v"}, std::vector<std::string>{"-q"},
        std::vector<std::string>{"--list"}}) {
    std::vector<std::string> all = {"--json", reportPath()};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back(m);
    auto r = runMpexec(all);
    std::string how = "mpexec";
    for (const auto& a : args) how += " " + a;
    bool listing = args.front() == "--list";
    EXPECT_EQ(r.exit_code, listing ? 0 : 1) << how << "\n" << r.out;
    EXPECT_EQ(firstRawControl(r.out), "") << how;
    // Shown, escaped: the user still sees what the test printed and what the case is called. A case named
    // with control characters is no test name (issue 23): the binary is one test that fails quoting it.
    if (listing) {
      EXPECT_TRUE(contains(r.out, "fake_gtest.sh")) << how << "\n" << r.out;
    } else {
      EXPECT_TRUE(contains(r.out, "Case\\x1b]0;GTEST-TITLE\\x07")) << how << "\n" << r.out;
    }
    if (!listing && args.front() != "-q") {
      EXPECT_TRUE(contains(r.out, "title\\x1b]0;PWNED-TITLE\\x07clip\\x1b]52;c;cHduZWQ=\\x07")) << how << "\n" << r.out;
      EXPECT_TRUE(contains(r.out, "c1\\u009b2Jbyte\\x9bXcr\\rover\\xff\\xfeend")) << how << "\n" << r.out;
    }
  }
  // The reports a CI page or `cat` shows are safe too.
  std::string junit_text = readFile(junit), html_text = readFile(html);
  ASSERT_FALSE(junit_text.empty());
  ASSERT_FALSE(html_text.empty());
  EXPECT_EQ(firstRawControl(junit_text), "") << "junit.xml";
  EXPECT_EQ(firstRawControl(html_text), "") << "report.html";
}

}  // namespace
}  // namespace mpexec::test::escape
