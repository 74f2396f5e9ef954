// A doctest suite run by mpexec as a batch unit (see README.md here): one process runs the selected test
// cases, each still reported, timed and logged on its own.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace {
int shared_fixture_builds = 0;  // what a batch keeps: state shared by the cases of one process

struct Expensive {
  Expensive() { ++shared_fixture_builds; }
};
Expensive& expensive() {
  static Expensive e;
  return e;
}
}  // namespace

TEST_CASE("adds") {
  expensive();
  CHECK(1 + 1 == 2);
}

TEST_CASE("builds the fixture once per process") {
  expensive();
  CHECK(shared_fixture_builds == 1);
}

TEST_CASE("fails on purpose") {
  // Set EXAMPLE_PASS=1 to make it pass.
  CHECK(std::getenv("EXAMPLE_PASS") != nullptr);
}

TEST_CASE("concatenates") { CHECK(std::string("a") + "b" == "ab"); }
