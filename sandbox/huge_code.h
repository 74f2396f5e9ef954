#pragma once
// The spawner's code on a transparent huge page: every init is a clone of the spawner and runs its code, so
// every init would otherwise fault that code in again, 16 pages at a time, and free the page tables it made.

#include <cstddef>

#include "sandbox/result.h"

namespace mpexec::sandbox {

/// Copies each 2 MiB-aligned window of this program that holds only its read-only segments (code, read-only
/// data, headers) into an anonymous transparent huge page and moves that over the window, executable and
/// read-only. A clone then inherits one PMD entry for the window instead of faulting its pages. Returns how
/// many windows moved: 0 when none is whole, or the kernel gave no huge page (THP "never", fragmented
/// memory), in which case nothing changed. Call it single-threaded, with no signal handler that could run
/// during the move. Profilers lose the symbols of the moved code (perf reads them through the file mapping).
Result<size_t> moveCodeToHugePages();

}  // namespace mpexec::sandbox
