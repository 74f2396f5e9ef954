// The JUnit reader of batch processes (executor/junit_reader.cc) on arbitrary files. The input is the
// process's ids, one a line, then a line "--", then the file; without a "--" line it is all the file and the
// ids are a few fixed ones. What the reader keeps is one case per id, for the process's ids only, with a
// bounded, valid UTF-8 message and output; every testcase is counted the same whatever the ids; a problem
// names the file and the line and is printable; reading the file from disk, in the pieces readJunitFile()
// reads, gives what parsing it whole gives.

#include <fcntl.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "executor/junit_reader.h"
#include "executor/printable.h"
#include "executor/utf8.h"
#include "sandbox/unique_fd.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/oracle.h"
#include "tests/support/temp_dir.h"

using namespace mpexec;
using namespace mpexec::fuzz;

namespace {

constexpr const char* kFile = "batch.1.junit.xml";

const test::TempDir& dir() {
  static const test::TempDir d;
  return d;
}

bool sameCase(const JunitCase& a, const JunitCase& b) {
  return a.result == b.result && a.message == b.message && a.output == b.output && a.time_s == b.time_s;
}

}  // namespace

MPEXEC_FUZZ_TARGET(junit_reader) {
  std::vector<std::string> ids = {"t", "S.t", "S::t", "u"};
  std::string_view xml = input;
  if (size_t sep = input.find("\n--\n"); sep != std::string_view::npos) {
    ids.clear();
    std::string_view head = input.substr(0, sep + 1);
    xml = input.substr(sep + 4);
    for (size_t nl; (nl = head.find('\n')) != std::string_view::npos; head.remove_prefix(nl + 1))
      if (nl > 0) ids.emplace_back(head.substr(0, nl));
  }

  JunitFile f = parseJunit(xml, ids, kFile);
  if (!f.problem.empty()) {
    FUZZ_CHECK(f.problem.starts_with(std::string(kFile) + ": not well-formed JUnit XML (line "), "problem {}",
               printable(f.problem));
    FUZZ_CHECK(isPrintable(f.problem), "problem {}", printable(f.problem));
  }
  FUZZ_CHECK(f.ignored <= f.testcases && f.by_id.size() <= f.testcases - f.ignored,
             "{} kept, {} ignored of {} testcases", f.by_id.size(), f.ignored, f.testcases);
  for (const auto& [id, c] : f.by_id) {
    FUZZ_CHECK(std::find(ids.begin(), ids.end(), id) != ids.end(), "kept {}, not an id", printable(id));
    FUZZ_CHECK(c.message.size() <= kJunitMaxMessage && isValidUtf8(c.message), "message of {} bytes: {}",
               c.message.size(), printable(c.message.substr(0, 200)));
    // The note that says what was left out comes on top of the kept bytes.
    FUZZ_CHECK(c.output.size() <= kJunitMaxCaseOutput + 100 && isValidUtf8(c.output), "output of {} bytes",
               c.output.size());
    FUZZ_CHECK(!c.time_s || (std::isfinite(*c.time_s) && *c.time_s >= 0), "time {}", *c.time_s);
  }

  JunitFile none = parseJunit(xml, {}, kFile);
  FUZZ_CHECK(none.by_id.empty() && none.testcases == f.testcases && none.ignored == f.testcases,
             "without ids: {} kept, {} ignored of {} testcases; with them {} testcases", none.by_id.size(),
             none.ignored, none.testcases, f.testcases);
  FUZZ_CHECK(none.problem == f.problem, "problem {} without ids, {} with them", printable(none.problem),
             printable(f.problem));

  {
    std::ofstream out(dir().path() + "/" + kFile, std::ios::binary | std::ios::trunc);
    out.write(xml.data(), std::streamsize(xml.size()));
  }
  UniqueFd dfd(open(dir().path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  auto read = readJunitFile(dfd.get(), kFile, ids);
  FUZZ_CHECK(read.ok() && read->has_value(), "readJunitFile: {}", read.ok() ? "no file" : read.error().message());
  const JunitFile& r = **read;
  FUZZ_CHECK(r.problem.empty() == f.problem.empty(), "problem {} read from disk, {} parsed whole",
             printable(r.problem), printable(f.problem));
  FUZZ_CHECK(r.testcases == f.testcases && r.ignored == f.ignored && r.by_id.size() == f.by_id.size(),
             "from disk {}/{}/{}, whole {}/{}/{} (testcases/ignored/kept)", r.testcases, r.ignored, r.by_id.size(),
             f.testcases, f.ignored, f.by_id.size());
  for (const auto& [id, c] : f.by_id) {
    auto it = r.by_id.find(id);
    FUZZ_CHECK(it != r.by_id.end() && sameCase(it->second, c), "{} differs read from disk", printable(id));
  }
}
