// `mpexec import ctest` (executor/import/import_ctest.cc) on arbitrary text as CTest's json-v1. What an
// import writes is valid UTF-8 JSON that mpexec loads, with one test for every test CTest lists and does
// not disable; its warnings can be shown on a terminal as they are.

#include <algorithm>
#include <filesystem>
#include <set>

#include <boost/json.hpp>

#include "executor/import/import_ctest.h"
#include "executor/manifest.h"
#include "executor/printable.h"
#include "executor/utf8.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/oracle.h"
#include "tests/support/temp_dir.h"

namespace mpexec::fuzz {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// A build directory the inputs point into: a program, a file that is not one, a directory.
const test::TempDir& buildDir() {
  static const test::TempDir dir;
  static const bool filled = [] {
    dir.write("bin/t", "#!/bin/sh\nexit 0\n", true);
    dir.write("plain.txt", "not a program\n");
    dir.write("sub/keep", "");
    return true;
  }();
  (void)filled;
  return dir;
}

// A "command" as CTest's json-v1 gives it, read as the importer documents: a string, or an array whose
// string elements are the arguments.
std::vector<std::string> stringsOf(const json::value* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (const json::string* s = v->if_string()) out.emplace_back(s->data(), s->size());
  if (const json::array* a = v->if_array())
    for (const json::value& e : *a)
      if (const json::string* s = e.if_string()) out.emplace_back(s->data(), s->size());
  return out;
}

}  // namespace
}  // namespace mpexec::fuzz

using namespace mpexec;
using namespace mpexec::fuzz;
namespace json = boost::json;
namespace fs = std::filesystem;

MPEXEC_FUZZ_TARGET(import_ctest) {
  CtestImportOptions opts;
  opts.build_dir = buildDir().path();
  auto imported = importCtestJson(input, opts);
  if (!imported.ok()) {
    FUZZ_CHECK(isPrintable(imported.error().message()), "error message {}", printable(imported.error().message()));
    return;
  }
  for (const std::string& w : imported->warnings) FUZZ_CHECK(isPrintable(w), "warning {}", printable(w));
  for (const std::string& d : imported->disabled) FUZZ_CHECK(isPrintable(d), "disabled name {}", printable(d));
  const std::string& text = imported->manifest;
  FUZZ_CHECK(isValidUtf8(text) && isJsonDocument(text), "not valid UTF-8 JSON: {}", printable(text));
  auto m = parseManifest(text, buildDir().path() + "/imported.json");
  FUZZ_CHECK(m.ok(), "the imported manifest does not load: {}\n{}", m.ok() ? "" : m.error().message(), text);
  // importCtestJson accepted it, so from its first line that starts with '{' (ctest's messages come before
  // the JSON) it is an object with a "tests" array of objects, each with a name.
  std::string_view json_text = input;
  while (!json_text.empty() && json_text.front() != '{') {
    std::size_t eol = json_text.find('\n');
    json_text.remove_prefix(eol == std::string_view::npos ? json_text.size() : eol + 1);
  }
  const json::value root = json::parse(json_text);
  const json::array& listed = root.as_object().at("tests").as_array();
  FUZZ_CHECK(m->tests.size() + imported->disabled.size() == listed.size(), "{} tests listed, {} imported, {} disabled",
             listed.size(), m->tests.size(), imported->disabled.size());
  std::set<std::string> names;
  std::vector<std::vector<std::string>> commands;
  for (const json::value& t : listed) {
    names.insert(std::string(t.at("name").as_string()));
    commands.push_back(stringsOf(t.as_object().if_contains("command")));
  }
  std::string warnings;
  for (const std::string& w : imported->warnings) warnings += w + "\n";
  for (const TestSpec& t : m->tests) {
    // A name is CTest's, or a warning says which it replaced.
    bool announced = warnings.find("renamed " + json::serialize(json::string_view(t.name)) + ":") != std::string::npos;
    FUZZ_CHECK(names.contains(t.name) || announced, "{} is no test's name and no warning announced it", t.name);
    // A command is CTest's (its program made absolute), or the stand-in of a test that cannot run.
    bool stand_in = t.cmd.size() == 5 && t.cmd[3] == "mpexec" && t.cmd[4].starts_with("mpexec import ctest: ");
    bool same = std::any_of(commands.begin(), commands.end(), [&](const std::vector<std::string>& c) {
      return c.size() == t.cmd.size() && std::equal(c.begin() + 1, c.end(), t.cmd.begin() + 1) &&
             fs::path(c[0]).lexically_normal().filename() == fs::path(t.cmd[0]).filename();
    });
    FUZZ_CHECK(stand_in || same, "{}: command {} is not one CTest lists", t.name, printable(json::serialize(json::value_from(t.cmd))));
  }
}
