#!/usr/bin/env bash
# make lint: clang-format (the house style, .clang-format) on every tracked C++ file, then
# clang-tidy (.clang-tidy) on the sources, from the build's compile_commands.json. Warnings
# are errors; exits non-zero on the first failing part.
#   scripts/lint.sh [build-dir]      (default build; configured and generated if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

echo "lint: clang-format"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror

if [ ! -f "$build/compile_commands.json" ]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
# Generated headers and the like must exist before clang-tidy parses the sources.
cmake --build "$build" --target kamea_app kamea_transport kamea_bus kamea_ops >/dev/null

echo "lint: clang-tidy"
# The compile commands are GCC's: clang ignores the warning options it does not know.
run-clang-tidy -p "$build" -j "$(nproc)" -quiet -extra-arg=-Wno-unknown-warning-option \
    "$PWD/src/" >"$build/clang-tidy.log" 2>&1 || {
    grep -E "(warning|error):" "$build/clang-tidy.log" | sort -u | head -50
    echo "lint: clang-tidy found problems (all of them in $build/clang-tidy.log)"
    exit 1
}
echo "lint: clean"
