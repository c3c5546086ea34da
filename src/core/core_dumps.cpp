#include "core/core_dumps.hpp"

#include <sys/prctl.h>

namespace kamea::core {

bool set_core_dumps(bool allowed) {
    return ::prctl(PR_SET_DUMPABLE, allowed ? 1 : 0, 0, 0, 0) == 0;
}

bool core_dumps_allowed() {
    return ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1;
}

} // namespace kamea::core
