#!/bin/bash
# examples/09-diff/diff.sh MNT - what changed between two versions.
#
# `modelctl diff MODEL A B` compares two versions (or aliases: production
# against staging) the way a reviewer wants before a promotion: metadata
# keys added, removed and changed, hyperparameters, metrics with their
# deltas, files added, removed and changed (by digest, so identical bytes
# are never reported however they were written), and detected formats.
# Like diff(1) it exits 0 when there is no difference, 1 when there is;
# --json gives the same as one document, for a CI job to read.
# MODELCTL names modelctl (default: this tree's build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
. "$(dirname "$0")/../lib.sh"     # MODELCTL, mc, SCRATCH, fresh_name, step, refused, check

NAME=$(fresh_name ex09-churn)     # or ex09-churn-2... if an earlier run took it
M=$MNT/models/$NAME

step "1.0.0 in production, a retrained 1.1.0 in staging"
mkdir "$M"
# version V LR TREES AUC LOGLOSS SNAPSHOT [EXTRA-FILE]
version() {
	local v=$M/versions/$1
	mkdir "$v"
	/usr/bin/python3 -c 'import numpy, sys; numpy.save(sys.argv[1], numpy.full((64, 8), float(sys.argv[2])))' \
		"$v/weights.npy" "$2"
	echo '{"objective": "binary", "num_class": 1}' >"$v/config.json"
	[ -z "${7:-}" ] || echo '{"method": "isotonic"}' >"$v/$7"
	cat >"$SCRATCH/metadata.json" <<-JSON
	{"hyperparameters": {"learning_rate": $2, "n_estimators": $3, "max_depth": 6},
	 "metrics": {"auc": $4, "logloss": $5},
	 "dataset_snapshot_id": "$6", "feature_set_version": "fs-7"}
	JSON
	cp "$SCRATCH/metadata.json" "$v/metadata.json"
	mc -q seal "$NAME" "$1"
}
version 1.0.0 0.1 100 0.91 0.35 snap-2026-10
version 1.1.0 0.05 200 0.93 0.31 snap-2026-11 calibration.json
ln -s versions/1.0.0 "$M/production"
ln -s versions/1.1.0 "$M/staging"

step "modelctl diff $NAME production staging"
rc=0
mc diff "$NAME" production staging || rc=$?
echo "(exit status $rc: they differ)"
mc --json diff "$NAME" production staging >"$SCRATCH/diff.json" || true

step "a copy with the same files and metadata does not differ"
cp -r "$M/versions/1.1.0" "$M/versions/1.1.1"     # instant: no bytes copied
mc -q seal "$NAME" 1.1.1
same=0
mc diff "$NAME" 1.1.0 1.1.1 || same=$?
echo "(exit status $same)"

step "checks"
/usr/bin/python3 - "$SCRATCH/diff.json" "$rc" "$same" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
checks = [
    ('exit 1 when they differ, 0 when not', sys.argv[2:] == ['1', '0']),
    ('from production to staging', (d['from'], d['to']) == ('1.0.0', '1.1.0')),
    ('auc +0.02', abs(d['metrics']['auc']['delta'] - 0.02) < 1e-9),
    ('logloss -0.04', abs(d['metrics']['logloss']['delta'] + 0.04) < 1e-9),
    ('hyperparameters changed', sorted(d['hyperparameters']['changed']) == ['learning_rate', 'n_estimators']),
    ('dataset snapshot changed', d['metadata']['changed']['dataset_snapshot_id'] ==
     {'from': 'snap-2026-10', 'to': 'snap-2026-11'}),
    ('calibration.json added', d['files']['added'] == ['calibration.json']),
    ('only the weights changed', [f['path'] for f in d['files']['changed']] == ['weights.npy']),
]
for what, ok in checks:
    print('  %s: %s' % ('ok' if ok else 'FAILED', what))
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY
echo "ok: metrics, hyperparameters, metadata and files compared between versions of $NAME"
