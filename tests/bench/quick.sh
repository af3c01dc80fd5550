#!/bin/bash
# tests/bench/quick.sh [SIZE_MIB] [ROUNDS] - register and read one large file
# through modelfs and natively on the same disk, alternating, and print
# median times and the ratios native/modelfs (throughput ratio: 1.00 means
# as fast as the disk path, lower is slower). Not a test: numbers only.
#
#   register: cp FILE into a draft + seal (hash, fsync, link, commit)
#             vs cp FILE into a directory + sync
#   read warm: cat production/FILE vs cat FILE, page cache warm
#   read cold: the same after dropping caches (root only)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${MODELFS_BUILD:-$ROOT/build}
SIZE=${1:-1024}
ROUNDS=${2:-3}
WORK=$(mktemp -d "${MODELFS_BENCH_DIR:-/var/tmp}/modelfs-bench.XXXXXX")
MNT=$WORK/mnt STORE=$WORK/store SRC=$WORK/src.bin NATIVE=$WORK/native
mkdir -p "$MNT" "$NATIVE"
cleanup() { fusermount3 -u "$MNT" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
drop() { [ "$(id -u)" -eq 0 ] && sync && echo 3 >/proc/sys/vm/drop_caches || true; }

head -c "$((SIZE << 20))" /dev/urandom >"$SRC"
"$BUILD/fs/modelfs" -o store="$STORE" "$MNT"
mkdir "$MNT/models/bench"

reg_native=() reg_dd=() reg_mfs=() warm_native=() warm_mfs=() cold_native=() cold_mfs=()
for i in $(seq "$ROUNDS"); do
	# Each registration starts from the same page-cache state (source
	# cached, nothing dirty): on a VM, pages the guest never touched cost
	# far more than recycled ones, which would favour whichever side
	# frees its output first.
	rm -f "$NATIVE/f.bin"; drop; cat "$SRC" >/dev/null
	t0=$(now); cp "$SRC" "$NATIVE/f.bin"; sync; t1=$(now)
	reg_native+=("$(echo "$t1 - $t0" | bc)")
	rm -f "$NATIVE/f.bin"; drop; cat "$SRC" >/dev/null
	# cp on one filesystem uses copy_file_range (no copy through user
	# space); across filesystems, as into any FUSE mount, it reads and
	# writes. dd with cp's buffer size is that path on the bare disk.
	t0=$(now); dd if="$SRC" of="$NATIVE/f.bin" bs=1M status=none; sync; t1=$(now)
	reg_dd+=("$(echo "$t1 - $t0" | bc)")

	v=1.0.$i
	mkdir "$MNT/models/bench/versions/$v"
	drop; cat "$SRC" >/dev/null
	t0=$(now); cp "$SRC" "$MNT/models/bench/versions/$v/f.bin"
	setfattr -n user.modelfs.seal -v 1 "$MNT/models/bench/versions/$v"; t1=$(now)
	reg_mfs+=("$(echo "$t1 - $t0" | bc)")
	# Distinct content per round would dedup otherwise: that is the
	# point of the store, but not what this measures.
	head -c 16 /dev/urandom | dd of="$SRC" bs=16 count=1 conv=notrunc status=none
done
ln -sfn "versions/1.0.$ROUNDS" "$MNT/models/bench/production"
cp "$MNT/models/bench/production/f.bin" /dev/null   # warm the cache once
cp "$NATIVE/f.bin" /dev/null
for i in $(seq "$ROUNDS"); do
	t0=$(now); cat "$NATIVE/f.bin" >/dev/null; t1=$(now)
	warm_native+=("$(echo "$t1 - $t0" | bc)")
	t0=$(now); cat "$MNT/models/bench/production/f.bin" >/dev/null; t1=$(now)
	warm_mfs+=("$(echo "$t1 - $t0" | bc)")
	drop
	t0=$(now); cat "$NATIVE/f.bin" >/dev/null; t1=$(now)
	cold_native+=("$(echo "$t1 - $t0" | bc)")
	drop
	t0=$(now); cat "$MNT/models/bench/production/f.bin" >/dev/null; t1=$(now)
	cold_mfs+=("$(echo "$t1 - $t0" | bc)")
done

report() {
	local name=$1 n m
	n=$(printf '%s\n' "${@:2:$ROUNDS}" | median)
	m=$(printf '%s\n' "${@:$((ROUNDS + 2))}" | median)
	printf '%-12s native %7.3fs %8.0f MiB/s   modelfs %7.3fs %8.0f MiB/s   ratio %.2f\n' \
		"$name" "$n" "$(echo "$SIZE / $n" | bc -l)" "$m" "$(echo "$SIZE / $m" | bc -l)" \
		"$(echo "$n / $m" | bc -l)"
}
echo "file: $SIZE MiB, $ROUNDS rounds, medians, disk: $(df --output=source "$WORK" | tail -1)"
report register "${reg_native[@]}" "${reg_mfs[@]}"
report register-dd "${reg_dd[@]}" "${reg_mfs[@]}"
report read-warm "${warm_native[@]}" "${warm_mfs[@]}"
report read-cold "${cold_native[@]}" "${cold_mfs[@]}"
