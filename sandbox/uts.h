#pragma once
// UTS: each unit has a hostname of its own inside CLONE_NEWUTS.

#include <string>

#include "sandbox/result.h"

namespace mpexec::sandbox {

/// "mpexec-<unit>", with characters outside [A-Za-z0-9-] replaced by '-', at most 64 bytes.
std::string unitHostname(const std::string& unit);

/// sethostname(unitHostname(unit)); needs a UTS namespace of one's own.
Result<void> setUnitHostname(const std::string& unit);

}  // namespace mpexec::sandbox
