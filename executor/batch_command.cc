#include "executor/batch_command.h"

#include <algorithm>

namespace mpexec {

namespace {

constexpr std::string_view kIds = "{ids}";
constexpr std::string_view kIdsSep = "{ids:";
constexpr std::string_view kJunit = "{junit}";

/// Calls on_text(text) and on_placeholder(kind, sep) for the pieces of `arg`, left to right. False (with
/// `problem` set) on a malformed placeholder.
template <class Text, class Placeholder>
bool scan(std::string_view arg, std::string* problem, Text on_text, Placeholder on_placeholder) {
  size_t pos = 0;
  while (pos < arg.size()) {
    size_t ids = arg.find("{ids", pos), junit = arg.find("{junit", pos);
    size_t next = std::min(ids, junit);
    if (next == std::string_view::npos) break;
    on_text(arg.substr(pos, next - pos));
    std::string_view rest = arg.substr(next);
    if (rest.starts_with(kJunit)) {
      on_placeholder('j', std::string_view());
      pos = next + kJunit.size();
    } else if (rest.starts_with(kIds)) {
      if (arg.size() != kIds.size()) {
        *problem = "{ids} must be a whole argument; inside one use {ids:SEP}";
        return false;
      }
      on_placeholder('i', std::string_view());
      pos = next + kIds.size();
    } else if (rest.starts_with(kIdsSep)) {
      size_t close = rest.find('}');
      if (close == std::string_view::npos) {
        *problem = "{ids:SEP} needs its closing '}'";
        return false;
      }
      std::string_view sep = rest.substr(kIdsSep.size(), close - kIdsSep.size());
      if (sep.empty()) {
        *problem = "{ids:SEP} needs a separator, such as {ids::} or {ids:,}";
        return false;
      }
      on_placeholder('s', sep);
      pos = next + close + 1;
    } else {
      *problem = "unknown placeholder (the placeholders are {ids}, {ids:SEP} and {junit})";
      return false;
    }
  }
  if (pos < arg.size()) on_text(arg.substr(pos));
  return true;
}

}  // namespace

std::string batchPlaceholderProblem(std::string_view arg) {
  std::string problem;
  scan(arg, &problem, [](std::string_view) {}, [](char, std::string_view) {});
  return problem;
}

std::vector<std::string> expandBatchCommand(const std::vector<std::string>& cmd, const std::vector<std::string>& ids,
                                            const std::string& junit) {
  std::vector<std::string> out;
  out.reserve(cmd.size() + ids.size());
  for (const std::string& arg : cmd) {
    if (arg == kIds) {
      out.insert(out.end(), ids.begin(), ids.end());
      continue;
    }
    std::string expanded;
    std::string problem;
    scan(
        arg, &problem, [&](std::string_view text) { expanded += text; },
        [&](char kind, std::string_view sep) {
          if (kind == 'j') {
            expanded += junit;
            return;
          }
          for (size_t i = 0; i < ids.size(); ++i) {
            if (i) expanded += sep;
            expanded += ids[i];
          }
        });
    out.push_back(std::move(expanded));
  }
  return out;
}

}  // namespace mpexec
