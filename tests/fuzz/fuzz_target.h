#pragma once
// A fuzz target: one input mpexec reads, fed with arbitrary bytes, checking properties as well as crashes.
// Each *_fuzz.cc file declares one with MPEXEC_FUZZ_TARGET(name) { ... }, at global scope, and is built two ways
// (docs/fuzzing.md):
// - `make fuzz`: with clang's libFuzzer, ASan and UBSan, one program per target (MPEXEC_LIBFUZZER set);
//   a failed FUZZ_CHECK aborts, which libFuzzer reports as a crash and saves the input;
// - `make test`: linked into the gtest program fuzz_tests, which replays tests/fuzz/corpus/<name>/ and
//   tests/fuzz/repro/<name>/ through the target; a failed FUZZ_CHECK fails that input's test.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace mpexec::fuzz {

using TargetFn = void (*)(std::string_view input);

/// Reports a broken property; never returns.
[[noreturn]] void propertyFailed(const char* file, int line, const std::string& what);

struct Target {
  const char* name;
  TargetFn run;
};

/// Every target linked into this program, in no particular order.
std::vector<Target>& targets();

struct Registration {
  Registration(const char* name, TargetFn run) { targets().push_back({name, run}); }
};

}  // namespace mpexec::fuzz

/// Fails the input, with a message formatted like fmt::format(...), unless `cond` holds.
#define FUZZ_CHECK(cond, ...)                                                                     \
  do {                                                                                            \
    if (!(cond)) ::mpexec::fuzz::propertyFailed(__FILE__, __LINE__, "(" #cond ") " + fmt::format(__VA_ARGS__)); \
  } while (0)

#ifdef MPEXEC_LIBFUZZER

#include <cstdio>
#include <cstdlib>

namespace mpexec::fuzz {
inline std::vector<Target>& targets() {
  static std::vector<Target> all;
  return all;
}
[[noreturn]] inline void propertyFailed(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: property failed: %s\n", file, line, what.c_str());
  std::abort();
}
}  // namespace mpexec::fuzz

#define MPEXEC_FUZZ_TARGET(name)                                                       \
  static void mpexecFuzz_##name(std::string_view input);                               \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {            \
    mpexecFuzz_##name(std::string_view(reinterpret_cast<const char*>(data), size));    \
    return 0;                                                                          \
  }                                                                                    \
  static void mpexecFuzz_##name(std::string_view input)

#else

#define MPEXEC_FUZZ_TARGET(name)                                                                   \
  static void mpexecFuzz_##name(std::string_view input);                                           \
  static const ::mpexec::fuzz::Registration mpexecFuzzRegistration_##name(#name, mpexecFuzz_##name); \
  static void mpexecFuzz_##name(std::string_view input)

#endif
