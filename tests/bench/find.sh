#!/bin/bash
# tests/bench/find.sh [MODELS] [VERSIONS] - time `modelctl find` over a
# registry of MODELS x VERSIONS sealed versions (default 1000 x 10), made
# through the mount. Not a test: it prints the figures.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${MODELFS_BUILD:-$ROOT/build}
NM=${1:-1000}
NV=${2:-10}
WORK=$(mktemp -d "${MODELFS_BENCH_DIR:-/var/tmp}/modelfs-find.XXXXXX")
cleanup() { fusermount3 -u "$WORK/mnt" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir "$WORK/mnt"
"$BUILD/fs/modelfs" -o store="$WORK/store" "$WORK/mnt" 2>/dev/null
t0=$(date +%s.%N)
/usr/bin/python3 - "$WORK/mnt/models" "$NM" "$NV" <<'PY'
import json, os, sys
root, nm, nv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for m in range(nm):
    md = os.path.join(root, 'm%04d' % m)
    os.mkdir(md)
    for v in range(nv):
        vd = os.path.join(md, 'versions', '1.%d.0' % v)
        os.mkdir(vd)
        with open(os.path.join(vd, 'w.bin'), 'wb') as f:
            f.write(b'%d-%d' % (m, v))
        with open(os.path.join(vd, 'metadata.json'), 'w') as f:
            json.dump({'metrics': {'auc': (m * nv + v) % 100 / 100},
                       'tags': ['fraud'] if v % 3 == 0 else ['churn']}, f)
        os.setxattr(vd, 'user.modelfs.seal', b'1')
    os.symlink('versions/1.%d.0' % (nv - 1), os.path.join(md, 'production'))
PY
t1=$(date +%s.%N)
printf 'registered %d versions in %.1f s\n' "$((NM * NV))" "$(echo "$t1 - $t0" | bc)"
for expr in 'metrics.auc >= 0.9 and alias == "production"' 'tags contains "fraud"'; do
	best=
	for i in 1 2 3; do
		a=$(date +%s.%N)
		n=$("$BUILD/tools/modelctl" -s "$WORK/store" --json find "$expr" |
			/usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
		b=$(date +%s.%N)
		t=$(echo "$b - $a" | bc)
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
	done
	printf 'find %-48s %6d hits  best of 3: %.3f s\n' "'$expr'" "$n" "$best"
done
