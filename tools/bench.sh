#!/bin/bash
# tools/bench.sh [--smoke] [--only register,read,...] [--json FILE] [--markdown FILE]
#
# Build if needed, then run the benchmark suite (tests/bench/bench.py):
# modelfs against native references on the same disk, alternating, with
# medians, ratios (reference time / modelfs time: 1.00 is as fast as native,
# higher is better) and the targets each figure is held to. Writes the
# results as JSON and as a Markdown table (tests/bench/results/latest.*).
# `tools/bench.sh --help` lists the scenarios and the sizes (flags or
# MODELFS_BENCH_* variables).
#
# Scratch data goes under ${MODELFS_BENCH_DIR:-/var/tmp} (keep it on the
# disk under test); the registries that are slow to make through the mount
# are cached in $MODELFS_BENCH_DIR/modelfs-bench-cache and reused. Run as
# root: cold measurements drop the page cache. Whatever happens (failure,
# ^C), nothing stays mounted and the scratch directory is removed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

case " $* " in
*" -h "* | *" --help "*) exec /usr/bin/python3 "$ROOT/tests/bench/bench.py" --help ;;
esac

build "$BUILD" >&2

BENCH_DIR=${MODELFS_BENCH_DIR:-/var/tmp}
mkdir -p "$BENCH_DIR"
WORK=$(mktemp -d "$BENCH_DIR/modelfs-bench.XXXXXX")

cleanup() {
	local mnt
	# bench.py unmounts what it mounted; this catches a bench.py that was
	# killed outright. Deepest mount points first.
	while read -r _ mnt _; do
		case $mnt in "$WORK"/*) printf '%s\n' "$mnt" ;; esac
	done </proc/mounts | sort -r | while read -r mnt; do
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

MODELFS_BUILD=$BUILD MODELFS_BENCH_DIR=$BENCH_DIR MODELFS_BENCH_WORKDIR=$WORK \
	/usr/bin/python3 "$ROOT/tests/bench/bench.py" "$@"
