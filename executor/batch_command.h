#pragma once
// A batch group's command line (docs/manifest.md, "Batch groups"): its placeholders {ids}, {ids:SEP} and
// {junit}, checked when the manifest loads and substituted for each batch process.

#include <string>
#include <string_view>
#include <vector>

namespace mpexec {

/// Empty when `arg` (one element of batch.cmd) uses the placeholders correctly; otherwise what is wrong.
std::string batchPlaceholderProblem(std::string_view arg);

/// `cmd` with "{ids}" elements replaced by one argument per id, "{ids:SEP}" by the ids joined with SEP and
/// "{junit}" by `junit`. Nothing else is touched. `cmd` must have passed batchPlaceholderProblem().
std::vector<std::string> expandBatchCommand(const std::vector<std::string>& cmd, const std::vector<std::string>& ids,
                                            const std::string& junit);

}  // namespace mpexec
