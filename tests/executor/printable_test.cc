#include "executor/printable.h"

#include <gtest/gtest.h>

#include "executor/utf8.h"

namespace mpexec {
namespace {

TEST(Printable, EscapesEveryTerminalControlVisibly) {
  EXPECT_EQ(printable("\x1b]0;title\x07"), "\\x1b]0;title\\x07");           // OSC 0
  EXPECT_EQ(printable("\x1b]52;c;cHduZWQ=\x1b\\"), "\\x1b]52;c;cHduZWQ=\\x1b\\");  // OSC 52, ST
  EXPECT_EQ(printable("\x1b[2J\x08\x7f"), "\\x1b[2J\\x08\\x7f");           // CSI, backspace, DEL
  EXPECT_EQ(printable("a\rb"), "a\\rb");
  EXPECT_EQ(printable("\xc2\x9b" "2J"), "\\u009b2J");                       // C1 CSI as UTF-8
  EXPECT_EQ(printable("\x9b" "2J"), "\\x9b2J");                             // C1 CSI as a byte
  EXPECT_EQ(printable("\xff\xfe" "ok"), "\\xff\\xfeok");                    // invalid UTF-8
  EXPECT_EQ(printable("\xe2\x80\xae" "evil"), "\\u202eevil");               // right-to-left override
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");                  // a surrogate
}

TEST(Printable, LeavesTextAndNewlinesAsTheCallerSays) {
  EXPECT_EQ(printable("plain text\twith a tab, ✓ and ünïcödé"), "plain text\twith a tab, ✓ and ünïcödé");
  EXPECT_EQ(printable("two\nlines"), "two\\nlines");
  EXPECT_EQ(printable("two\nlines", Newlines::Keep), "two\nlines");
}

TEST(Printable, ColumnsCountCharactersAndWideOnesTwice) {
  EXPECT_EQ(columnsOf("abc"), 3u);
  EXPECT_EQ(columnsOf("✓x"), 2u);
  EXPECT_EQ(columnsOf("日本"), 4u);
  EXPECT_EQ(fitColumns("日本語", 5), "日本");
  EXPECT_EQ(fitColumns("a✓b", 2), "a✓");
  EXPECT_EQ(fitColumns("abc", 10), "abc");
}

TEST(Utf8, DecodesStrictly) {
  EXPECT_EQ(decodeUtf8("A").code, uint32_t('A'));
  EXPECT_EQ(decodeUtf8("\xe2\x9c\x93").length, 3u);
  EXPECT_EQ(decodeUtf8("\xe2\x9c\x93").code, 0x2713u);
  EXPECT_EQ(decodeUtf8("\xc0\x80").length, 0u);          // overlong NUL
  EXPECT_EQ(decodeUtf8("\xe2\x9c").length, 0u);          // truncated
  EXPECT_EQ(decodeUtf8("\xf4\x90\x80\x80").length, 0u);  // above U+10FFFF
  EXPECT_EQ(decodeUtf8("\xf0\x9f\x98\x80").code, 0x1F600u);
}

}  // namespace
}  // namespace mpexec
