// Batch groups: a group's "batch" command and its line patterns, and the tests that join it.
#include <boost/json.hpp>
#include <fmt/format.h>
#include <re2/re2.h>

#include <array>

#include "executor/batch_command.h"
#include "executor/json_location.h"
#include "executor/manifest_loader.h"
#include "executor/output_rules.h"
#include "executor/printable.h"
#include "executor/utf8.h"

namespace mpexec::manifest_loader {

namespace {

constexpr std::array<std::string_view, 3> kBatchKeys{"cmd", "lines", "preload"};
constexpr std::array<std::string_view, 5> kLinesKeys{"started", "pass", "fail", "skip", "error"};
// Keys a test of a batch group may not have: the tests share the group's process and its report (and
// CTest's resource groups are told to a test's own process).
constexpr std::array<std::string_view, 9> kNotInBatch{"cmd",        "env",        "cwd",        "skip_exit_code",
                                                      "will_fail",  "pass_regex", "fail_regex", "skip_regex",
                                                      "resource_groups"};

}  // namespace

Result<void> Loader::readBatch(const json::value& v, const std::string& ptr, const Settings& s, BatchSpec& out) {
  const json::object* o = v.if_object();
  if (o == nullptr) return expected(ptr, "an object with \"cmd\"", v);
  MPEXEC_TRY(checkKeys(*o, ptr, kBatchKeys));
  const json::value* cmd = o->if_contains("cmd");
  if (cmd == nullptr) return at(ptr, "missing required key \"cmd\"");
  MPEXEC_TRY(readStringArray(*cmd, ptr + "/cmd", out.cmd, true));
  for (std::size_t i = 0; i < out.cmd.size(); ++i) {
    if (std::string why = batchPlaceholderProblem(out.cmd[i]); !why.empty())
      return at(fmt::format("{}/cmd/{}", ptr, i), fmt::format("{}, got {}", why, jsonQuoted(out.cmd[i])));
  }
  MPEXEC_TRY(resolveCmd(ptr + "/cmd", out.cmd, s));
  if (const json::value* l = o->if_contains("lines")) MPEXEC_TRY(readLines(*l, ptr + "/lines", out.lines));
  if (const json::value* p = o->if_contains("preload")) {
    MPEXEC_TRY(readString(*p, ptr + "/preload", out.preload));
    if (out.preload != "pytest")
      return at(ptr + "/preload", fmt::format("the one interpreter mpexec preloads is \"pytest\", got {}",
                                              jsonQuoted(out.preload)));
    if (out.cmd.size() < 3 || out.cmd[1] != "-m" || out.cmd[2] != "pytest")
      return at(ptr + "/preload", "\"preload\": \"pytest\" needs a cmd of the form [PYTHON, \"-m\", \"pytest\", ...]");
  }
  return {};
}

Result<void> Loader::readLines(const json::value& v, const std::string& ptr, BatchLines& out) {
  const json::object* o = v.if_object();
  if (o == nullptr || o->empty())
    return expected(ptr, "an object with at least one of started, pass, fail, skip, error", v);
  MPEXEC_TRY(checkKeys(*o, ptr, kLinesKeys));
  std::optional<LinePattern>* slots[] = {&out.started, &out.pass, &out.fail, &out.skip, &out.error};
  for (std::size_t k = 0; k < kLinesKeys.size(); ++k) {
    const json::value* x = o->if_contains(kLinesKeys[k]);
    if (x == nullptr) continue;
    std::string kptr = ptr + "/" + std::string(kLinesKeys[k]);
    std::string text;
    MPEXEC_TRY(readString(*x, kptr, text));
    Result<OutputPattern> p = compileOutputPattern(text);
    if (!p.ok())
      return at(kptr, fmt::format("not a valid regular expression (RE2 syntax: {}): {}", printable(p.error().detail),
                                  jsonQuoted(text)));
    if (p.value().re->NumberOfCapturingGroups() < 1)
      return at(kptr, fmt::format("needs a capture group for the id, such as \"^ok (.+)$\", got {}", jsonQuoted(text)));
    *slots[k] = std::move(p.value());
  }
  return {};
}

Result<void> Loader::joinBatch(const json::object& o, const std::string& ptr, const GroupSpec& g, TestSpec& t) {
  for (std::string_view key : kNotInBatch) {
    if (!o.contains(key)) continue;
    std::string kptr = ptr + "/" + std::string(key);
    if (key == "cmd")
      return at(kptr, fmt::format("a test of batch group {} has no \"cmd\": the group's batch command runs it "
                                  "(give its \"id\" instead)", jsonQuoted(g.name)));
    if (key == "resource_groups")
      return at(kptr, fmt::format("a test of batch group {} shares the group's process, which cannot be told "
                                  "each test's groups: give \"resources\" instead", jsonQuoted(g.name)));
    if (key == "env" || key == "cwd")
      return at(kptr, fmt::format("a test of batch group {} runs in the group's batch command: set {} on /groups/{}",
                                  jsonQuoted(g.name), jsonQuoted(key), jsonPointerToken(g.name)));
    return at(kptr, fmt::format("a test of batch group {} has the outcome its batch command reports, not one "
                                "judged by an exit code or output", jsonQuoted(g.name)));
  }
  t.id = t.name;
  if (const json::value* id = o.if_contains("id")) {
    MPEXEC_TRY(readString(*id, ptr + "/id", t.id));
    if (!isControlFree(t.id)) return expected(ptr + "/id", "an id without control characters", *id);
  }
  return claimBatchId(g.name, t.id, ptr + (o.contains("id") ? "/id" : "/name"));
}

Result<void> Loader::claimBatchId(const std::string& group, const std::string& id, const std::string& where) {
  auto& ids = batch_ids_[group];
  auto [it, fresh] = ids.try_emplace(id, where);
  if (!fresh) {
    return at(where, fmt::format("duplicate id {} in batch group {} (already at {})", jsonQuoted(id),
                                 jsonQuoted(group), it->second));
  }
  return {};
}

}  // namespace mpexec::manifest_loader
