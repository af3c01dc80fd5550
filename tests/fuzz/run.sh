#!/bin/bash
# tests/fuzz/run.sh [SECONDS_PER_TARGET] - build the libFuzzer harnesses with
# clang and run each one for SECONDS_PER_TARGET (default 20) over a scratch
# copy of its seed corpus (tests/fuzz/corpus/<target>/) with its dictionary.
#
# Prints, per target, how many inputs it ran and whether it found anything;
# exits non-zero if any target crashed, leaked, hung, ran out of memory or
# tripped ASan/UBSan or a property check, printing the reproducer's path
# and the command that replays it. Nothing is written into the repository:
# new corpus entries and reproducers stay in the work directory.
#
# Environment:
#   MODELFS_FUZZ_BUILD    build directory (default: build-fuzz at the top)
#   MODELFS_FUZZ_WORK     work directory, kept afterwards (default: a
#                         temporary one, removed unless something was found)
#   MODELFS_FUZZ_TARGETS  the targets to run (default: every fuzz_*.c here)
#   CC                    the compiler for a new build directory (clang)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${MODELFS_FUZZ_BUILD:-$ROOT/build-fuzz}
secs=${1:-20}
case $secs in
'' | *[!0-9]* | 0)
	echo "usage: $0 [SECONDS_PER_TARGET]" >&2
	exit 2
	;;
esac

if [ -z "${MODELFS_FUZZ_TARGETS:-}" ]; then
	for f in "$HERE"/fuzz_*.c; do
		f=${f##*/fuzz_}
		MODELFS_FUZZ_TARGETS="${MODELFS_FUZZ_TARGETS:-} ${f%.c}"
	done
fi

if [ ! -f "$BUILD/build.ninja" ]; then
	echo "==> configuring $BUILD with ${CC:-clang}"
	CC=${CC:-clang} meson setup "$BUILD" "$ROOT" -Dfuzz=true -Dtests=false >/dev/null
fi
echo "==> building the fuzzers in $BUILD"
ninja -C "$BUILD" fuzz >/dev/null

if [ -n "${MODELFS_FUZZ_WORK:-}" ]; then
	work=$MODELFS_FUZZ_WORK
	mkdir -p "$work"
	keep=1
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/modelfs-fuzz.XXXXXX")
	keep=0
fi

found=0
echo "==> fuzzing each target for ${secs}s (work: $work)"
for t in $MODELFS_FUZZ_TARGETS; do
	exe=$BUILD/tests/fuzz/fuzz_$t
	w=$work/$t
	rm -rf "$w"
	mkdir -p "$w/corpus" "$w/artifacts"
	cp "$HERE/corpus/$t/"* "$w/corpus/"
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048
		-print_final_stats=1 -artifact_prefix="$w/artifacts/")
	[ -f "$HERE/$t.dict" ] && args+=(-dict="$HERE/$t.dict")
	set +e
	"$exe" "${args[@]}" "$w/corpus" >"$w/log" 2>&1
	rc=$?
	set -e
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$w/log" | tail -n 1)
	[ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$w/log" | tail -n 1 | tr -d '#')
	repro=$(find "$w/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o \
		-name 'timeout-*' -o -name 'oom-*' \) | head -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$repro" ]; then
		printf '%-14s %10s runs  nothing found\n' "$t" "${runs:-?}"
		continue
	fi
	found=1
	printf '%-14s %10s runs  FOUND A BUG (exit %d)\n' "$t" "${runs:-?}" "$rc"
	grep -E 'SUMMARY|ERROR: |runtime error|property failed' "$w/log" | head -n 5 | sed 's/^/    /'
	echo "    log:        $w/log"
	if [ -n "$repro" ]; then
		echo "    reproducer: $repro"
		echo "    replay:     $exe $repro"
	fi
done

if [ "$found" -ne 0 ]; then
	echo "fuzzing found bugs; the work directory $work is kept" >&2
	exit 1
fi
[ "$keep" -eq 1 ] || rm -rf "$work"
echo "fuzzing found nothing"
