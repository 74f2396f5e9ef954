#include "executor/import/ctest_groups.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <queue>
#include <set>
#include <string_view>

#include <fmt/format.h>

namespace mpexec {

namespace {

constexpr std::size_t kMaxGroupName = 128;

class UnionFind {
 public:
  explicit UnionFind(std::size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), 0); }
  std::size_t find(std::size_t i) {
    while (parent_[i] != i) i = parent_[i] = parent_[parent_[i]];
    return i;
  }
  // The smaller index stays the root, so a group is named after its first test in CTest's order.
  void unite(std::size_t a, std::size_t b) {
    a = find(a), b = find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }

 private:
  std::vector<std::size_t> parent_;
};

std::string groupNameFrom(std::string_view kind, std::string_view what) {
  std::string g = "ctest.";
  g.append(kind).append(".");
  for (char c : what) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    g.push_back(ok ? c : '_');
  }
  if (g.size() > kMaxGroupName) g.resize(kMaxGroupName);
  return g;
}

// The order inside one group: setup tests before the tests that require their fixture, those before the
// cleanup tests, and DEPENDS kept between members; otherwise CTest's order. Returns false on a cycle.
bool orderGroup(std::vector<std::size_t>& members, const std::vector<CtestTest>& tests,
                const std::map<std::string, std::size_t>& by_name) {
  std::map<std::size_t, std::size_t> pos;  // test index → position in members
  for (std::size_t i = 0; i < members.size(); ++i) pos[members[i]] = i;
  std::vector<std::set<std::size_t>> after(members.size());  // edges a → b: a runs before b
  std::vector<std::size_t> indegree(members.size(), 0);
  auto edge = [&](std::size_t a, std::size_t b) {
    if (a != b && after[a].insert(b).second) ++indegree[b];
  };
  for (std::size_t a = 0; a < members.size(); ++a) {
    const CtestTest& ta = tests[members[a]];
    for (std::size_t b = 0; b < members.size(); ++b) {
      const CtestTest& tb = tests[members[b]];
      auto shares = [](const std::vector<std::string>& x, const std::vector<std::string>& y) {
        return std::any_of(x.begin(), x.end(), [&](const std::string& f) { return std::find(y.begin(), y.end(), f) != y.end(); });
      };
      bool b_uses = shares(ta.fixtures_setup, tb.fixtures_required) || shares(ta.fixtures_setup, tb.fixtures_cleanup);
      if (b_uses || shares(ta.fixtures_required, tb.fixtures_cleanup)) edge(a, b);
    }
    for (const std::string& d : ta.depends) {
      auto it = by_name.find(d);
      if (it != by_name.end() && pos.contains(it->second)) edge(pos[it->second], a);
    }
  }
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t i = 0; i < members.size(); ++i)
    if (indegree[i] == 0) ready.push(i);
  std::vector<std::size_t> ordered;
  while (!ready.empty()) {
    std::size_t i = ready.top();
    ready.pop();
    ordered.push_back(members[i]);
    for (std::size_t j : after[i])
      if (--indegree[j] == 0) ready.push(j);
  }
  if (ordered.size() != members.size()) return false;
  members = std::move(ordered);
  return true;
}

}  // namespace

CtestGroups groupCtestTests(const std::vector<CtestTest>& tests) {
  std::map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < tests.size(); ++i) by_name.emplace(tests[i].ctest_name, i);
  UnionFind uf(tests.size());
  std::map<std::string, std::size_t> first_lock, first_fixture;
  std::set<std::string> provided;  // fixtures that have a setup or cleanup test
  for (const CtestTest& t : tests) {
    provided.insert(t.fixtures_setup.begin(), t.fixtures_setup.end());
    provided.insert(t.fixtures_cleanup.begin(), t.fixtures_cleanup.end());
  }
  std::vector<bool> grouped(tests.size(), false);
  for (std::size_t i = 0; i < tests.size(); ++i) {
    const CtestTest& t = tests[i];
    for (const std::string& l : t.locks) {
      auto [it, fresh] = first_lock.emplace(l, i);
      uf.unite(it->second, i);
      grouped[i] = true;
    }
    for (const auto* list : {&t.fixtures_setup, &t.fixtures_required, &t.fixtures_cleanup}) {
      for (const std::string& f : *list) {
        if (!provided.contains(f)) continue;  // nothing to set up: CTest ignores it too
        auto [it, fresh] = first_fixture.emplace(f, i);
        uf.unite(it->second, i);
        grouped[i] = true;
      }
    }
    if (t.run_serial) grouped[i] = true;
  }

  std::map<std::size_t, std::vector<std::size_t>> members;  // root → members in CTest order
  for (std::size_t i = 0; i < tests.size(); ++i)
    if (grouped[i]) members[uf.find(i)].push_back(i);
  CtestGroups out;
  out.of_test.resize(tests.size());
  std::set<std::string> taken;
  for (auto& [root, list] : members) {
    std::string name = groupNameFrom("serial", tests[root].name);
    for (std::size_t i : list) {
      if (!tests[i].locks.empty()) {
        name = groupNameFrom("lock", tests[i].locks.front());
        break;
      }
    }
    if (name.starts_with("ctest.serial.") && list.size() > 1) {
      // Linked by a fixture: name the group after the first fixture that has a setup or cleanup test.
      auto fixture = [&](const CtestTest& t) -> const std::string* {
        for (const auto* fl : {&t.fixtures_setup, &t.fixtures_required, &t.fixtures_cleanup})
          for (const std::string& f : *fl)
            if (provided.contains(f)) return &f;
        return nullptr;
      };
      for (std::size_t i : list) {
        if (const std::string* f = fixture(tests[i])) {
          name = groupNameFrom("fixture", *f);
          break;
        }
      }
    }
    std::string unique = name;
    for (int k = 2; !taken.insert(unique).second; ++k) {
      std::string suffix = fmt::format("-{}", k);
      unique = name.substr(0, kMaxGroupName - suffix.size()) + suffix;
    }
    CtestGroup& g = out.groups.emplace_back();
    g.name = unique;
    g.isolated = std::any_of(list.begin(), list.end(), [&](std::size_t i) { return tests[i].run_serial; });
    g.cycle = !orderGroup(list, tests, by_name);
    g.members = std::move(list);
    for (std::size_t i : g.members) out.of_test[i] = out.groups.size() - 1;
  }
  return out;

}

}  // namespace mpexec
