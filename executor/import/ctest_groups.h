#pragma once
// Which of CTest's tests share a serial group of the manifest (docs/ci.md): those linked by a RESOURCE_LOCK
// or by a fixture that has a setup or cleanup test, each group named after its lock or fixture, isolated
// when one of its tests is RUN_SERIAL, and ordered setup → users → cleanup and by DEPENDS inside it.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "executor/import/ctest_test.h"

namespace mpexec {

struct CtestGroup {
  std::string name;                  ///< "ctest.lock.L", "ctest.fixture.F" or "ctest.serial.T", unique
  bool isolated = false;             ///< a RUN_SERIAL test is in it: isolated_serial
  std::vector<std::size_t> members;  ///< indexes of its tests, in the order they run
  bool cycle = false;                ///< fixtures or DEPENDS form a cycle: members stay in CTest's order
};

struct CtestGroups {
  std::vector<CtestGroup> groups;                  ///< in the order of their first tests
  std::vector<std::optional<std::size_t>> of_test; ///< per test: its group in `groups`; none for a test alone
};

/// Groups `tests` (in CTest's order, with unique names). A RUN_SERIAL test that shares nothing is a group
/// of its own.
CtestGroups groupCtestTests(const std::vector<CtestTest>& tests);

}  // namespace mpexec
