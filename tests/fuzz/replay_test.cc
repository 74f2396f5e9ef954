// Replays every saved input of every fuzz target (tests/fuzz/fuzz_target.h): the seed corpus in
// tests/fuzz/corpus/<target>/ and the reproducers of fixed bugs in tests/fuzz/repro/<target>/, one test
// per file, so that a fixed bug stays fixed without clang or libFuzzer.

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fuzz/fuzz_target.h"

namespace mpexec::fuzz {

namespace fs = std::filesystem;

std::vector<Target>& targets() {
  static std::vector<Target> all;
  return all;
}

namespace {

struct PropertyFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

[[noreturn]] void propertyFailed(const char* file, int line, const std::string& what) {
  throw PropertyFailure(fmt::format("{}:{}: property failed: {}", file, line, what));
}

namespace {

// tests/fuzz of the source tree: $MPEXEC_FUZZ_DIR, else found from this program's place in
// build/<mode>/tests/, else from the working directory.
fs::path fuzzDir() {
  if (const char* d = getenv("MPEXEC_FUZZ_DIR"); d != nullptr && *d != 0) return d;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path p = exe.parent_path(); !ec && !p.empty() && p != p.root_path(); p = p.parent_path()) {
    if (fs::is_directory(p / "tests/fuzz/corpus")) return p / "tests/fuzz";
  }
  return fs::current_path(ec) / "tests/fuzz";
}

struct Input {
  std::string target;
  TargetFn run = nullptr;
  fs::path file;
  std::string test_name;  // [A-Za-z0-9_] only, as gtest wants
};

// What gtest prints for a failing input: its file, not the struct's bytes.
void PrintTo(const Input& in, std::ostream* os) { *os << in.file.string(); }

std::string testName(const std::string& target, const char* kind, const fs::path& file) {
  std::string n = target + "_" + kind + "_" + file.filename().string();
  for (char& c : n)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

std::vector<Input> inputs() {
  std::vector<Input> out;
  fs::path dir = fuzzDir();
  for (const Target& t : targets()) {
    for (const char* kind : {"corpus", "repro"}) {
      std::error_code ec;
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(dir / kind / t.name, ec))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const fs::path& f : files) out.push_back({t.name, t.run, f, testName(t.name, kind, f)});
    }
  }
  std::sort(out.begin(), out.end(), [](const Input& a, const Input& b) { return a.test_name < b.test_name; });
  return out;
}

class Replay : public ::testing::TestWithParam<Input> {};

TEST_P(Replay, Input) {
  const Input& in = GetParam();
  std::ifstream f(in.file, std::ios::binary);
  ASSERT_TRUE(f) << "cannot read " << in.file;
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  try {
    in.run(bytes);
  } catch (const PropertyFailure& e) {
    ADD_FAILURE() << in.file.string() << ": " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Fuzz, Replay, ::testing::ValuesIn(inputs()),
                         [](const ::testing::TestParamInfo<Input>& i) { return i.param.test_name; });

// Every target has a seed corpus, so a missing directory (a moved tree) cannot pass unnoticed.
TEST(Replay, EveryTargetHasSeeds) {
  fs::path dir = fuzzDir();
  ASSERT_FALSE(targets().empty());
  for (const Target& t : targets()) {
    std::error_code ec;
    EXPECT_FALSE(fs::is_empty(dir / "corpus" / t.name, ec) || ec) << "no seed corpus in " << (dir / "corpus" / t.name);
  }
}

}  // namespace
}  // namespace mpexec::fuzz
