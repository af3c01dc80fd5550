#!/bin/bash
# tools/test.sh - install, build, and run every test: C unit tests (cmocka)
# and the mounted integration tests (pytest), on an AddressSanitizer +
# UndefinedBehaviorSanitizer build first, then on the normal build; the unit
# tests under valgrind too, and a short fuzz run (tests/fuzz/run.sh). Ends
# with pytest's own summary line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

install_pkgs "${RUNTIME_PKGS[@]}" "${TEST_PKGS[@]}"
modprobe fuse 2>/dev/null || true

build "$BUILD"
ASAN=${MODELFS_ASAN_BUILD:-$ROOT/build-asan}
build "$ASAN" -Db_sanitize=address,undefined -Db_lundef=false

PYTEST=(/usr/bin/python3 -m pytest -q -p no:cacheprovider "$ROOT/tests/integration")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

say "unit tests (sanitized build)"
meson test -C "$ASAN" --print-errorlogs -q
say "unit tests"
meson test -C "$BUILD" --print-errorlogs -q
say "unit tests under valgrind"
"$ROOT/tests/unit/valgrind.sh" "$BUILD"
# A short libFuzzer run of every harness in tests/fuzz (about 2 minutes in
# all). Set MODELFS_SKIP_FUZZ=1 to skip it in a local run, or
# MODELFS_FUZZ_SECONDS to fuzz each target longer or shorter (default 15).
if [ -z "${MODELFS_SKIP_FUZZ:-}" ]; then
	say "fuzzing"
	"$ROOT/tests/fuzz/run.sh" "${MODELFS_FUZZ_SECONDS:-15}"
fi

say "integration tests (sanitized build)"
set +e
MODELFS_BUILD=$ASAN "${PYTEST[@]}" --tb=short >"$ASAN/pytest.log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ]; then
	# Show what failed; the run below still ends with pytest's own line.
	grep -E "^(FAILED|ERROR)|AddressSanitizer|runtime error" "$ASAN/pytest.log" | head -n 40
	echo "integration tests failed on the sanitized build (see $ASAN/pytest.log)" >&2
else
	tail -n 1 "$ASAN/pytest.log"
fi

say "integration tests"
set +e
MODELFS_BUILD=$BUILD "${PYTEST[@]}" --tb=short
rc=$?
set -e
[ "$status" -ne 0 ] && [ "$rc" -eq 0 ] && rc=1
exit $rc
