#pragma once
// "Did you mean ...?" for a mistyped option, subtool or importer name.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mpexec {

/// Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`.
size_t editDistance(std::string_view a, std::string_view b);

/// The candidate closest to `word`, when it is close enough to be what was meant: at most a quarter of its
/// length in edits (at least 1), or the only candidate that starts with `word`. Ties go to the first.
std::optional<std::string> closestMatch(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace mpexec
