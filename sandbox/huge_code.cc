#include "sandbox/huge_code.h"

#include <link.h>
#include <signal.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace mpexec::sandbox {
namespace {

constexpr uintptr_t kHuge = uintptr_t(2) << 20;

struct Span {
  uintptr_t begin, end;  // page-aligned
  bool writable;
};

/// The main program's loaded segments, as page ranges.
std::vector<Span> programSegments() {
  std::vector<Span> spans;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        auto& spans = *static_cast<std::vector<Span>*>(out);
        const uintptr_t page = uintptr_t(getpagesize());
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          uintptr_t begin = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
          uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + page - 1) & ~(page - 1);
          spans.push_back({begin, end, (ph.p_flags & PF_W) != 0});
        }
        return 1;  // the first object is the program itself
      },
      &spans);
  return spans;
}

/// Whether [begin, begin + kHuge) lies wholly in read-only segments, with no page of a writable one.
bool wholeReadOnly(uintptr_t begin, const std::vector<Span>& spans) {
  const uintptr_t end = begin + kHuge;
  for (const Span& s : spans)
    if (s.writable && s.begin < end && begin < s.end) return false;
  uintptr_t covered = begin;
  for (bool grew = true; grew && covered < end;) {
    grew = false;
    for (const Span& s : spans)
      if (!s.writable && s.begin <= covered && covered < s.end) {
        covered = s.end;
        grew = true;
      }
  }
  return covered >= end;
}

/// The kilobytes of the mapping starting at `addr` that lie on anonymous huge pages (/proc/self/smaps).
long anonHugeKb(uintptr_t addr) {
  std::ifstream in("/proc/self/smaps");
  char head[32];
  snprintf(head, sizeof head, "%lx-", static_cast<unsigned long>(addr));
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(head, 0) == 0)
      inside = true;
    else if (inside && line.rfind("AnonHugePages:", 0) == 0)
      return std::atol(line.c_str() + 14);
  }
  return 0;
}

/// A plain copy of the window, word by word. Not memcpy, and not instrumented: under AddressSanitizer the
/// window's read-only data holds the redzones of constant globals, which a checked read would report.
__attribute__((no_sanitize("address", "undefined"))) void copyWindow(uintptr_t to, uintptr_t from) {
  auto* dst = reinterpret_cast<volatile uint64_t*>(to);
  const auto* src = reinterpret_cast<const uint64_t*>(from);
  for (size_t i = 0; i < kHuge / sizeof(uint64_t); ++i) dst[i] = src[i];
}

/// One window: a copy on a huge page, then moved over the original. The code running here lies in that
/// window too, but the copy holds the same bytes, so it carries on from the same address.
Result<bool> moveWindow(uintptr_t window) {
  void* raw = mmap(nullptr, 2 * kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return sysError("mmap", "a huge page for the spawner's code");
  const uintptr_t base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t copy = (base + kHuge - 1) & ~(kHuge - 1);
  if (copy > base) munmap(raw, copy - base);
  if (base + 2 * kHuge > copy + kHuge)
    munmap(reinterpret_cast<void*>(copy + kHuge), base + 2 * kHuge - copy - kHuge);
  void* at = reinterpret_cast<void*>(copy);
  // MADV_HUGEPAGE follows the system's setting: under THP "never" the copy gets small pages, and is dropped
  // (a fork would copy 512 page table entries of it, dearer than the faults it saves).
  bool huge = madvise(at, kHuge, MADV_HUGEPAGE) == 0;
  if (huge) {
    copyWindow(copy, window);
    huge = anonHugeKb(copy) >= long(kHuge >> 10);
  }
  if (!huge) {
    munmap(at, kHuge);
    return false;
  }
  if (mprotect(at, kHuge, PROT_READ | PROT_EXEC) != 0) {
    Error e = sysError("mprotect", "the spawner's code on a huge page");
    munmap(at, kHuge);
    return e;
  }
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  void* moved = mremap(at, kHuge, kHuge, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(window));
  int err = errno;
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (moved == MAP_FAILED) {
    munmap(at, kHuge);
    errno = err;
    return sysError("mremap", "the spawner's code onto its huge page");
  }
  return true;
}

}  // namespace

Result<size_t> moveCodeToHugePages() {
  const std::vector<Span> spans = programSegments();
  size_t moved = 0;
  uintptr_t first = ~uintptr_t(0), last = 0;
  for (const Span& s : spans)
    if (!s.writable) {
      first = std::min(first, s.begin & ~(kHuge - 1));
      last = std::max(last, s.end);
    }
  for (uintptr_t w = first; w < last; w += kHuge) {
    if (!wholeReadOnly(w, spans)) continue;
    auto r = moveWindow(w);
    if (!r) return r.error();
    if (!*r) break;  // no huge page to be had: the next window would get none either
    ++moved;
  }
  return moved;
}

}  // namespace mpexec::sandbox
