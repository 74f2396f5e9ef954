#pragma once
// --list: the plan as a person reads it, or (--list=json) as a tool does, like `ctest --show-only=json-v1`
// and `cargo nextest list --message-format json`. The JSON schema is in docs/executor.md ("--list=json").

#include <string>

#include "executor/config.h"
#include "executor/manifest.h"
#include "executor/plan.h"

namespace mpexec {

/// Windows and the pool in run order, each unit with its tests, and the totals; names escaped for a
/// terminal.
std::string planText(const Manifest& m, const Plan& plan);

/// The plan as one JSON object (format "mpexec-plan", version 1): what was selected and how, the phases,
/// the units in the order they would start, and every selected test with what it would run.
/// `why_empty` says which step of the selection left no test (null in the JSON when empty).
std::string planJson(const Manifest& m, const Plan& plan, const Config& config, const Selection& sel,
                     const std::string& why_empty);

}  // namespace mpexec
