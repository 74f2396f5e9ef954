#pragma once

#include <string>

#include "sandbox/result.h"

namespace mpexec {

/// Writes `content` to `path` atomically: a temporary file beside it, fsync, then rename. Creates the
/// parent directory when missing.
Result<void> writeFileAtomic(const std::string& path, const std::string& content);

}  // namespace mpexec
