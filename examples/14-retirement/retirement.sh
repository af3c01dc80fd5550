#!/bin/bash
# examples/14-retirement/retirement.sh MNT - storage: dedup, instant copies,
# retiring versions, and garbage collection.
#
# Every sealed file is a blob named by its content's digest (XXH3-128), so
# identical bytes are stored once however many versions hold them, and
# however they got there: `cp -r` of a sealed version inside the registry
# copies nothing at all (an instant copy; on a registry many hosts share,
# a plain copy), and the same bytes copied in from outside become the
# same blob. Retiring a version is a lifecycle
# (deprecated, archived), then a tombstone (rmdir); `modelctl gc` frees a
# blob only when no version references it any more. It looks into the
# store (STORE/blobs/ab/<digest>) to show this: run it as the daemon's
# user (root for a mount made by root), which gc also needs.
# MODELCTL names modelctl (default: this tree's build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
. "$(dirname "$0")/../lib.sh"     # MODELCTL, mc, SCRATCH, fresh_name, step, refused, check

NAME=$(fresh_name ex14-llm)       # or ex14-llm-2... if an earlier run took it
M=$MNT/models/$NAME
SRC=$SCRATCH/model                # what a version holds, registered from here
mkdir "$SRC"

# Where the blobs are: the store's blobs/, unless its config names a directory.
STORE=$(getfattr --absolute-names --only-values -n user.modelfs.store "$MNT")
BLOBS=$(sed -n 's/^blobs //p' "$STORE/config" 2>/dev/null)
BLOBS=${BLOBS:-$STORE/blobs}
blobs_kib() { du -sk "$BLOBS" | cut -f1; }
# digest V FILE: the file's digest, from the version's metadata.json.
digest() {
	/usr/bin/python3 -c '
import json, sys
files = json.load(open(sys.argv[1]))["registry"]["files"]
print([f["digest"] for f in files if f["path"] == sys.argv[2]][0])' "$M/versions/$1/metadata.json" "$2"
}
# blob V FILE: the blob that holds it.
blob() { local d; d=$(digest "$1" "$2"); echo "$BLOBS/${d:0:2}/$d"; }
# gc: run modelctl gc, keep its report in $SCRATCH/gc.json, print its counts.
gc() {
	mc --json gc >"$SCRATCH/gc.json"
	/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("  gc: %d blobs removed, %d bytes freed" % (r["blobs_removed"], r["bytes_freed"]))' "$SCRATCH/gc.json"
}

step "1.0.0: 8 MiB of weights"
head -c 8M /dev/urandom >"$SRC/weights.bin"
echo '{"layers": 12}' >"$SRC/config.json"
k0=$(blobs_kib)
mc register "$SRC" "$NAME@1.0.0" --seal
k1=$(blobs_kib)
echo "  the store grew by $((k1 - k0)) KiB"

step "1.1.0: a config change. cp -r of the sealed version copies no bytes"
cp -r "$M/versions/1.0.0" "$M/versions/1.1.0"
du -k "$M/versions/1.1.0/weights.bin"          # 0: it stands for the blob (one host)
C1=$(du -k "$M/versions/1.1.0/weights.bin" | cut -f1)
echo '{"layers": 12, "rope_scaling": 2.0}' >"$M/versions/1.1.0/config.json"
mc seal "$NAME" 1.1.0
k2=$(blobs_kib)
echo "  the store grew by $((k2 - k1)) KiB"

step "1.2.0: the same weights copied in again from outside: stored once"
echo '{"layers": 12, "rope_scaling": 4.0}' >"$SRC/config.json"
mc register "$SRC" "$NAME@1.2.0" --seal
k3=$(blobs_kib)
echo "  the store grew by $((k3 - k2)) KiB"

step "2.0.0: retrained, new weights; production moves to it"
head -c 8M /dev/urandom >"$SRC/weights.bin"
mc register "$SRC" "$NAME@2.0.0" --promote production
OLD=$(blob 1.0.0 weights.bin)

step "retire 1.x: archive, then tombstone all but 1.2.0"
for v in 1.0.0 1.1.0 1.2.0; do mc archive "$NAME" "$v"; done
rmdir "$M/versions/1.0.0" "$M/versions/1.1.0"
gc
[ -e "$OLD" ] && echo "  the old weights' blob stays: 1.2.0 still holds them"
K1=$([ -e "$OLD" ] && echo kept || echo gone)
rmdir "$M/versions/1.2.0"
gc
[ -e "$OLD" ] || echo "  the last version holding the old weights is gone, so is their blob"
FREED=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["bytes_freed"])' \
	"$SCRATCH/gc.json")
ls "$M/versions"

step "checks"
check "1.0.0 stored its 8 MiB" "$([ $((k1 - k0)) -ge 8192 ] && echo yes)" yes
if grep -q '^db ' "$STORE/config" 2>/dev/null; then
	# A registry many hosts share (PostgreSQL) copies for real: gc may run
	# on any host, and only this one would see the draft's references.
	# The seal still stores the bytes once (checked below).
	echo "  (a shared registry: cp -r made an ordinary copy, of $C1 KiB)"
else
	check "the instant copy took no space" "$C1" 0
fi
check "1.1.0 added a few KiB at most" "$([ $((k2 - k1)) -lt 64 ] && echo yes)" yes
check "1.2.0 added a few KiB at most" "$([ $((k3 - k2)) -lt 64 ] && echo yes)" yes
check "a referenced blob survives gc" "$K1" kept
check "the last gc freed the old weights" "$([ ! -e "$OLD" ] && [ "$FREED" -ge 8388608 ] && echo yes)" yes
check "versions left" "$(ls "$M/versions" | tr '\n' ' ')" "2.0.0 "
check "production" "$(readlink "$M/production")" versions/2.0.0
checks_passed || exit 1
echo "ok: identical weights stored once on $NAME, freed only with their last version"
