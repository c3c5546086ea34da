#pragma once
// Core dumps (contract section 9, secrets): a dump holds every live bearer token, so the
// process is not dumpable unless the operator asks (--core-dumps true). Not dumpable also
// keeps other processes of the same user from ptrace and from /proc/<pid>/mem and environ.

namespace kamea::core {

// prctl(PR_SET_DUMPABLE): false at start, before any secret is read; true only if asked.
// Returns whether the kernel took it.
bool set_core_dumps(bool allowed);

// What the kernel says now (PR_GET_DUMPABLE).
bool core_dumps_allowed();

} // namespace kamea::core
