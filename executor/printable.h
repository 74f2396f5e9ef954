#pragma once
// Text mpexec did not write itself — a test's output, a test name from an import or a gtest binary's
// listing, a reason that quotes either — made safe for the user's terminal (issue 17). A test must not
// be able to set the window title (OSC 0), write the clipboard (OSC 52), move the cursor, clear the
// screen or hide lines (CSI), so such bytes are shown, escaped, instead of being sent raw.

#include <string>
#include <string_view>

namespace mpexec {

enum class Newlines { Keep, Escape };

/// `text` with every byte sequence a terminal could act on escaped visibly: C0 controls other than tab
/// (and newline, with Newlines::Keep) and DEL as `\xHH` (`\r` as `\r`, `\n` as `\n`), C1 controls and
/// the bidirectional overrides (U+202A..U+202E, U+2066..U+2069) as `\uHHHH`, and each byte of invalid
/// UTF-8 as `\xHH`. Printable ASCII and valid UTF-8 pass unchanged.
std::string printable(std::string_view text, Newlines newlines = Newlines::Escape);

/// The columns `text` (printable() already) takes on a terminal: one per character, two for the wide
/// East Asian ranges and emoji.
size_t columnsOf(std::string_view text);

/// The longest start of `text` (printable() already) that fits in `columns`, cut between characters.
std::string_view fitColumns(std::string_view text, size_t columns);

}  // namespace mpexec
