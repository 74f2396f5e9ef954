#include "executor/plan.h"

#include <algorithm>
#include <limits>
#include <random>
#include <unordered_map>

#include "executor/history.h"

namespace mpexec {

uint64_t stableHash(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

namespace {

bool hasLabelMatching(const TestSpec& t, const std::regex& re) {
  return std::any_of(t.labels.begin(), t.labels.end(), [&](const std::string& l) { return std::regex_search(l, re); });
}

/// How many of the selection's steps (--filter, --exclude, --label, --exclude-label, --rerun-failed) keep
/// the test, in that order: 5 is selected.
int stepsPassed(const TestSpec& t, const History& history, const Selection& sel) {
  if (sel.filter && !std::regex_search(t.name, *sel.filter)) return 0;
  if (sel.exclude && std::regex_search(t.name, *sel.exclude)) return 1;
  auto labelled = [&](const std::regex& re) { return hasLabelMatching(t, re); };
  if (!std::all_of(sel.labels.begin(), sel.labels.end(), labelled)) return 2;
  if (!sel.exclude_labels.empty() && std::all_of(sel.exclude_labels.begin(), sel.exclude_labels.end(), labelled))
    return 3;
  if (sel.only_failed) {
    const TestHistory* h = history.find(t.name);
    if (!h || !h->failed) return 4;
  }
  return 5;
}

bool selected(const TestSpec& t, const History& history, const Selection& sel) {
  return stepsPassed(t, history, sel) == 5;
}

/// a + b for durations, at most INT64_MAX: they come from files other jobs wrote, and a sum that wrapped
/// around would make the longest unit the shortest.
int64_t plus(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<int64_t>::max() : sum;
}

/// Sort key of a unit: last failures first, then never measured, then the longest (sum of its tests).
struct UnitCost {
  int rank;      // 0 failed last time, 1 unknown, 2 known
  int64_t cost;  // microseconds
};

UnitCost costOf(const Unit& u, const Manifest& m, const History& history) {
  UnitCost c{2, 0};
  for (size_t t : u.tests) {
    const TestHistory* h = history.find(m.tests[t].name);
    if (h && h->failed) c.rank = 0;
    if (!h || h->duration_us < 0) {
      c.rank = std::min(c.rank, 1);
    } else {
      c.cost = plus(c.cost, h->duration_us);
    }
  }
  return c;
}

/// Greedy LPT over units: the longest unit goes to the least loaded shard. Ties break on the unit's name,
/// then the lowest shard, so the result depends only on the units and the durations, never on K.
std::vector<size_t> shardsByDurations(const std::vector<Unit>& units, const Manifest& m, const History& d, int n) {
  std::vector<int64_t> cost(units.size(), 0);
  std::vector<bool> known(units.size(), true);
  int64_t known_sum = 0, known_count = 0;
  for (size_t u = 0; u < units.size(); ++u) {
    for (size_t t : units[u].tests) {
      const TestHistory* h = d.find(m.tests[t].name);
      if (h && h->duration_us >= 0) {
        cost[u] = plus(cost[u], h->duration_us);
        known_sum = plus(known_sum, h->duration_us);
        ++known_count;
      } else {
        known[u] = false;
      }
    }
  }
  // A test never measured costs the mean of those measured (1 when none is), so new tests spread evenly.
  int64_t mean = known_count > 0 ? std::max<int64_t>(1, known_sum / known_count) : 1;
  for (size_t u = 0; u < units.size(); ++u) {
    if (known[u]) continue;
    for (size_t t : units[u].tests) {
      const TestHistory* h = d.find(m.tests[t].name);
      if (!h || h->duration_us < 0) cost[u] = plus(cost[u], mean);
    }
  }
  std::vector<size_t> order(units.size());
  for (size_t u = 0; u < order.size(); ++u) order[u] = u;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (cost[a] != cost[b]) return cost[a] > cost[b];
    return units[a].name < units[b].name;
  });
  std::vector<int64_t> load(size_t(n), 0);
  std::vector<size_t> shard(units.size(), 0);
  for (size_t u : order) {
    size_t best = size_t(std::min_element(load.begin(), load.end()) - load.begin());
    shard[u] = best;
    load[best] = plus(load[best], cost[u]);
  }
  return shard;
}

/// Fisher-Yates with our own draw, so a seed gives the same order with every standard library.
void shuffle(std::vector<size_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

}  // namespace

SelectionFunnel countSelection(const Manifest& m, const History& history, const Selection& sel) {
  SelectionFunnel f;
  f.manifest = m.tests.size();
  for (const TestSpec& t : m.tests) {
    int passed = stepsPassed(t, history, sel);
    f.filtered += passed >= 1;
    f.not_excluded += passed >= 2;
    f.labelled += passed >= 3;
    f.not_label_excluded += passed >= 4;
    f.failed_last += passed >= 5;
  }
  return f;
}

Plan makePlan(const Manifest& m, const History& history, const Selection& sel) {
  Plan plan;
  plan.resources = m.resources;
  std::unordered_map<std::string, size_t> serial_unit;  // group → unit index
  for (size_t i = 0; i < m.tests.size(); ++i) {
    const TestSpec& t = m.tests[i];
    if (!selected(t, history, sel)) continue;
    plan.tests.push_back(i);
    if (isSerial(t.strategy)) {
      auto [it, fresh] = serial_unit.try_emplace(t.group, plan.units.size());
      if (!fresh) {
        plan.units[it->second].tests.push_back(i);
        raiseTo(plan.units[it->second].resources, t.resources);
        continue;
      }
    }
    Unit u;
    u.id = "u" + std::to_string(plan.units.size());
    u.name = isSerial(t.strategy) ? t.group : t.name;
    u.group = t.group;
    u.strategy = t.strategy;
    u.tests.push_back(i);
    if (auto g = m.groups.find(t.group); g != m.groups.end()) raiseTo(u.resources, g->second.resources);
    raiseTo(u.resources, t.resources);
    plan.units.push_back(std::move(u));
  }

  if (sel.shard) {
    auto [k, n] = *sel.shard;
    std::vector<Unit> kept;
    plan.unsharded_tests = std::move(plan.tests);
    plan.tests.clear();
    std::vector<size_t> shard_of =
        sel.shard_durations ? shardsByDurations(plan.units, m, *sel.shard_durations, n) : std::vector<size_t>{};
    for (size_t ui = 0; ui < plan.units.size(); ++ui) {
      Unit& u = plan.units[ui];
      size_t s = sel.shard_durations ? shard_of[ui] : size_t(stableHash(u.name) % uint64_t(n));
      if (s != size_t(k - 1)) continue;
      u.id = "u" + std::to_string(kept.size());
      plan.tests.insert(plan.tests.end(), u.tests.begin(), u.tests.end());
      kept.push_back(std::move(u));
    }
    std::sort(plan.tests.begin(), plan.tests.end());
    plan.units = std::move(kept);
  }

  // Windows in the order their groups first appear; the pool last.
  Phase pool;
  std::unordered_map<std::string, size_t> window;  // group → phase index
  for (size_t u = 0; u < plan.units.size(); ++u) {
    const Unit& unit = plan.units[u];
    if (!isIsolated(unit.strategy)) {
      pool.units.push_back(u);
      continue;
    }
    auto [it, fresh] = window.try_emplace(unit.group, plan.phases.size());
    if (fresh) {
      Phase p;
      p.group = unit.group;
      p.one_at_a_time = unit.strategy == Strategy::IsolatedSerial;
      plan.phases.push_back(std::move(p));
    }
    plan.phases[it->second].units.push_back(u);
  }
  if (!pool.units.empty()) plan.phases.push_back(std::move(pool));

  std::mt19937_64 rng(sel.shuffle_seed.value_or(0));
  std::vector<UnitCost> cost;
  if (!sel.shuffle_seed) {
    cost.reserve(plan.units.size());
    for (const Unit& u : plan.units) cost.push_back(costOf(u, m, history));
  }
  for (Phase& p : plan.phases) {
    if (sel.shuffle_seed) {
      shuffle(p.units, rng);
      continue;
    }
    std::stable_sort(p.units.begin(), p.units.end(), [&](size_t a, size_t b) {
      if (cost[a].rank != cost[b].rank) return cost[a].rank < cost[b].rank;
      return cost[a].cost > cost[b].cost;
    });
  }
  return plan;
}

}  // namespace mpexec
