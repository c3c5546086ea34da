#pragma once
// Puts malloc's heap on transparent huge pages (glibc's tunable glibc.malloc.hugetlb=1).
//
// Why: a fan-out touches a handful of objects per recipient (its socket, session and
// connection), each allocated when that client connected, so spread over the heap; with 4 KiB
// pages most of those accesses miss the TLB, and under virtualization a miss walks two page
// tables. Measured with the latency benchmark (docs/performance.md): about 8 % less server CPU
// per delivered message and a lower p99, for 0.1-0.2 KiB more RSS per connection.
//
// glibc reads GLIBC_TUNABLES only when a program starts, so when the variable does not mention
// glibc.malloc.hugetlb this adds it and executes the program again, once (same process id,
// arguments and environment otherwise). Whoever sets glibc.malloc.hugetlb themselves keeps their
// choice (0 turns it off). Does nothing if the program cannot be executed again.

namespace kamea::core {

void request_huge_page_heap(char** argv);

} // namespace kamea::core
