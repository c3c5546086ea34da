#include "core/huge_page_heap.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace kamea::core {

void request_huge_page_heap(char** argv) {
    const char* current = std::getenv("GLIBC_TUNABLES");
    std::string tunables = current != nullptr ? current : "";
    if (tunables.find("glibc.malloc.hugetlb") != std::string::npos) {
        return; // already asked for (or refused) by whoever started us, or by our first run
    }
    if (!tunables.empty()) {
        tunables += ':';
    }
    tunables += "glibc.malloc.hugetlb=1";
    if (::setenv("GLIBC_TUNABLES", tunables.c_str(), 1) != 0) {
        return;
    }
    ::execv("/proc/self/exe", argv);
    // Still here: no /proc, or not allowed. Run on with glibc's defaults, environment unchanged.
    if (current != nullptr) {
        ::setenv("GLIBC_TUNABLES", current, 1);
    } else {
        ::unsetenv("GLIBC_TUNABLES");
    }
}

} // namespace kamea::core
