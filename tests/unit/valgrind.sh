#!/bin/bash
# tests/unit/valgrind.sh [BUILD_DIR] - run the C unit tests under valgrind's
# memcheck: any invalid read or write, use of uninitialised memory, bad free
# or definite leak fails the test it happens in. Nothing is suppressed.
#
# BUILD_DIR (default $MODELFS_BUILD, else build/ at the top) must be a build
# without sanitizers: ASan and valgrind cannot share a process. It is
# configured and built first when needed.
#
# Only definite leaks count. "Possibly lost" is what LMDB's ID lists look
# like to memcheck whenever a store is still open at exit (mdb_midl_alloc
# hands out a pointer one word into its block): in the forked children of
# test_store and test_seal_faults, which _exit() or are killed with the
# store open, on purpose.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-${MODELFS_BUILD:-$ROOT/build}}

command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 1; }
if [ ! -f "$BUILD/build.ninja" ]; then
	echo "==> configuring $BUILD"
	meson setup "$BUILD" "$ROOT" >/dev/null
fi
if meson configure "$BUILD" 2>/dev/null | grep -Eq '^ *b_sanitize +(address|undefined|thread|memory)'; then
	echo "valgrind.sh: $BUILD is built with sanitizers; give a plain build" >&2
	exit 2
fi
ninja -C "$BUILD" >/dev/null

# -q: only errors reach the logs (not the notes on LMDB's large map).
# The timeout multiplier: memcheck runs code some 20 to 50 times slower.
meson test -C "$BUILD" --print-errorlogs -q --timeout-multiplier 10 \
	--wrapper "valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite"
