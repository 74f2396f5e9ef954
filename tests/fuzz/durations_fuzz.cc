// `--shard-by-durations FILE` (executor/shard_env.cc, executor/plan.cc) on arbitrary text as FILE: a state
// file or a JSON report that another job wrote. A file that does not load gives a message a terminal can
// show; with one that loads, the shards of every count partition the plan (each test in exactly one shard,
// a serial group's tests in the same one), and the same durations as the state directory's history order a
// plan. UBSan watches the sums of durations.

#include <algorithm>
#include <map>

#include "executor/history.h"
#include "executor/plan.h"
#include "executor/printable.h"
#include "executor/shard_env.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/oracle.h"
#include "tests/support/manifest_builder.h"
#include "tests/support/temp_dir.h"

using namespace mpexec;
using namespace mpexec::fuzz;

MPEXEC_FUZZ_TARGET(durations) {
  static const test::TempDir dir;
  const std::string path = dir.write("durations.json", std::string(input));
  auto d = loadShardDurations(path);
  if (!d.ok()) {
    FUZZ_CHECK(isPrintable(d.error().message()), "message {}", printable(d.error().message()));
    return;
  }
  // The tests the file names (the first 32 by name), the first two a serial group, and two it does not name.
  std::vector<std::string> named;
  for (const auto& [name, t] : d->tests()) named.push_back(name);
  std::sort(named.begin(), named.end());
  if (named.size() > 32) named.resize(32);
  Manifest m;
  for (std::size_t i = 0; i < named.size(); ++i) test::addTest(m, named[i], i < 2 ? "g" : "", Strategy::Serial);
  for (std::string extra : {"unmeasured", "unmeasured2"}) {
    while (d->find(extra) != nullptr) extra += "_";
    test::addTest(m, extra);
  }
  for (int n : {1, 2, 3, 5}) {
    std::map<std::size_t, int> shard_of;
    for (int k = 1; k <= n; ++k) {
      Selection sel;
      sel.shard = std::make_pair(k, n);
      sel.shard_durations = &*d;
      Plan p = makePlan(m, *d, sel);
      FUZZ_CHECK(p.unsharded_tests.size() == m.tests.size(), "shard {}/{}: {} tests before sharding of {}", k, n,
                 p.unsharded_tests.size(), m.tests.size());
      for (std::size_t t : p.tests)
        FUZZ_CHECK(shard_of.emplace(t, k).second, "{} in shards {} and {} of {}", printable(m.tests[t].name),
                   shard_of[t], k, n);
    }
    FUZZ_CHECK(shard_of.size() == m.tests.size(), "{} of {} tests in some shard of {}", shard_of.size(),
               m.tests.size(), n);
    if (named.size() >= 2) FUZZ_CHECK(shard_of[0] == shard_of[1], "the serial group split across {} shards", n);
  }
}
