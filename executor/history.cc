#include "executor/history.h"

#include "executor/atomic_file.h"

#include <fstream>
#include <sstream>

#include <boost/json.hpp>

namespace mpexec {

namespace json = boost::json;

Result<History> History::load(const std::string& path) {
  History h;
  std::ifstream in(path, std::ios::binary);
  if (!in) return h;
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  const json::object* root = ec ? nullptr : v.if_object();
  const json::object* tests = root && root->contains("tests") ? root->at("tests").if_object() : nullptr;
  if (!tests) return Error{"read state", 0, path + ": not a state file (delete it to start afresh)"};
  for (const auto& [name, entry] : *tests) {
    const json::object* o = entry.if_object();
    if (!o) continue;
    TestHistory t;
    if (auto* d = o->if_contains("duration_us"); d && d->is_int64()) t.duration_us = d->as_int64();
    if (auto* f = o->if_contains("failed"); f && f->is_bool()) t.failed = f->as_bool();
    h.tests_.emplace(std::string(name), t);
  }
  return h;
}

Result<void> History::save(const std::string& path) const {
  json::object tests;
  for (const auto& [name, t] : tests_) tests[name] = json::object{{"duration_us", t.duration_us}, {"failed", t.failed}};
  std::string text = json::serialize(json::object{{"version", 1}, {"tests", std::move(tests)}});
  return writeFileAtomic(path, text);
}

const TestHistory* History::find(const std::string& test) const {
  auto it = tests_.find(test);
  return it == tests_.end() ? nullptr : &it->second;
}

}  // namespace mpexec
