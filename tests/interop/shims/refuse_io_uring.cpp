// Preloaded (LD_PRELOAD) into kamea-wss by tests/interop/ops.test.mjs: liburing's
// io_uring_queue_init fails as it does where the kernel or a container's seccomp profile
// refuses io_uring, so the server's start-up fallback to Asio writes is tested for real.

#include <cerrno>

struct io_uring;

extern "C" int io_uring_queue_init(unsigned /*entries*/, io_uring* /*ring*/, unsigned /*flags*/) {
    return -ENOSYS;
}
