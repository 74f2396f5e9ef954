#pragma once
// Manifests built in code, for plan and scheduler tests that should not depend on the parser.

#include <string>

#include "executor/manifest.h"

namespace mpexec::test {

inline void addTest(Manifest& m, const std::string& name, const std::string& group = "",
                    Strategy strategy = Strategy::Free) {
  TestSpec t;
  t.name = name;
  t.cmd = {"/bin/true"};
  t.group = group;
  t.strategy = group.empty() ? Strategy::Free : strategy;
  t.settings.cwd = "/";
  if (!group.empty() && !m.groups.count(group)) {
    GroupSpec g;
    g.name = group;
    g.strategy = strategy;
    g.settings.cwd = "/";
    m.groups[group] = g;
  }
  m.tests.push_back(std::move(t));
}

}  // namespace mpexec::test
