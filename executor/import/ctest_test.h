#pragma once
// One test of CTest's json-v1 listing as `mpexec import ctest` reads it (executor/import/import_ctest.cc),
// before it becomes a test of the manifest.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "executor/resources.h"

namespace mpexec {

struct CtestTest {
  std::string ctest_name;  ///< as CTest lists it: what DEPENDS refers to
  std::string name;        ///< in the manifest: ctest_name, or renamed where it cannot be
  std::vector<std::string> cmd;
  std::string missing_cmd;  ///< why there is no usable command; empty when there is one
  std::string cwd;
  std::map<std::string, std::string> env;
  std::optional<double> timeout_s;
  std::vector<std::string> labels;
  bool will_fail = false, run_serial = false, disabled = false;
  std::optional<int> skip_exit_code;
  std::vector<std::string> pass_re, fail_re, skip_re;  ///< CTest's syntax, as listed
  std::vector<std::string> locks, fixtures_setup, fixtures_required, fixtures_cleanup, depends;
  ResourceGroups resource_groups;  ///< RESOURCE_GROUPS: per group, resource → slots
  std::map<std::string, boost::json::value> unhandled;  ///< property → value, for warnings
};

}  // namespace mpexec
