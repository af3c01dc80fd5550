#!/bin/bash
# examples/11-cicd/pipeline.sh MNT - a complete CI/CD pipeline for a model.
#
#   CI (as alice)  train a scikit-learn model, evaluate it, register it
#                  with its metadata and model card, stage it
#   review (bob)   approve the staged version for production
#   CD (as alice)  promote; the registry's hook announces it
#   serving        a smoke test reads production/; if it fails, roll back
#
# Release 1.0.0 goes through. Release 1.1.0 carries a feature-pipeline bug
# (trained on 3 of the 4 features): its own evaluation looks fine, so it
# passes the gates and the review, but the smoke test on production fails
# and the pipeline rolls back. The policy exempts rollbacks from approvals.
#
# The registry must be mounted with this directory's hook, e.g.
#   modelfs -o hook=$PWD/examples/11-cicd/notify-hook MNT
# (it appends each production move to $MODELFS_NOTIFY, default
# /var/tmp/modelfs-notify.jsonl, which this script reads back). Run as
# root: it acts as alice and bob (created if missing, like the tests').
# MODELCTL names modelctl (default: this tree's build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
. "$(dirname "$0")/../lib.sh"     # MODELCTL, mc, SCRATCH, fresh_name, step, refused, check, as
NOTIFY=${MODELFS_NOTIFY:-/var/tmp/modelfs-notify.jsonl}
# Root plays alice and bob (created if missing); they read what the script
# writes to SCRATCH, and modelctl is copied there (see lib.sh).
act_as_users mfs_alice:mfs_ml mfs_bob:mfs_ml,mfs_ops

NAME=$(fresh_name ex11-churn)     # or ex11-churn-2... if an earlier run took it
M=$MNT/models/$NAME

# The data, shared by training and the smoke test (a fixed seed).
DATA='
import sys, json, datetime, joblib, sklearn
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
X, y = make_classification(n_samples=500, n_features=4, n_informative=4, n_redundant=0,
                           random_state=7)
Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
'
# train OUT VERSION NFEATURES: OUT/model/{model.joblib,MODEL_CARD.md}, OUT/metadata.json
TRAIN='
out, version, nf = sys.argv[1], sys.argv[2], int(sys.argv[3])
clf = LogisticRegression(C=1.0).fit(Xtr[:, :nf], ytr)
acc = round(clf.score(Xte[:, :nf], yte), 4)   # evaluated on what it was built with
joblib.dump(clf, out + "/model/model.joblib")
open(out + "/model/MODEL_CARD.md", "w").write("# churn %s\nLogistic regression, accuracy %s.\n" % (version, acc))
json.dump({"training_date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "dataset_snapshot_id": "churn-2026-11", "code_commit": "c0ffee%s" % version.replace(".", ""),
           "hyperparameters": {"C": 1.0}, "library_versions": {"scikit-learn": sklearn.__version__},
           "metrics": {"accuracy": acc}}, open(out + "/metadata.json", "w"))
print("  trained %s: holdout accuracy %s" % (version, acc))
'
# The smoke test: what serving sends (4 features) must be answered well.
SMOKE='
clf = joblib.load(sys.argv[1] + "/model.joblib")
try:
    acc = clf.score(Xte, yte)
except ValueError as e:
    print("  smoke test FAILED: %s" % e)
    sys.exit(1)
print("  smoke test passed: accuracy %.4f on live-shaped requests" % acc)
sys.exit(0 if acc >= 0.85 else 1)
'
# notified: wait (at most 2 minutes) for the hook to announce the model's last
# production move; print it. The record is matched by its chain hash.
notified() {
	local hash _
	hash=$(grep "\"event\":\"alias\..*\"model\":\"$NAME\"" "$MNT/audit.jsonl" | grep '"alias":"production"' |
		grep '"result":"ok"' | tail -n 1 | sed 's/.*"hash":"\([0-9a-f]*\)".*/\1/')
	for _ in $(seq 600); do
		if grep -q "$hash" "$NOTIFY" 2>/dev/null; then
			grep "$hash" "$NOTIFY" | /usr/bin/python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
print("  hook announced: seq %(seq)d %(event)s production -> %(to)s by %(user)s" % r)'
			return 0
		fi
		sleep 0.2
	done
	echo "no notification of $hash in $NOTIFY:" \
		"is the registry mounted with -o hook=$EXAMPLES/11-cicd/notify-hook?" >&2
	exit 1
}

step "the model's policy (alice owns the model)"
as mfs_alice mkdir "$M"
cat >"$SCRATCH/policy.json" <<'JSON'
{
  "aliases": {
    "staging": {"gates": {"required_keys": ["metrics.accuracy", "dataset_snapshot_id", "code_commit"],
                          "required_files": ["MODEL_CARD.md"]}},
    "production": {"gates": {"from_alias": "staging", "metrics.accuracy": ">= 0.85"},
                   "approvals": 1, "exempt_rollback": true}
  }
}
JSON
as mfs_alice cp "$SCRATCH/policy.json" "$M/policy.json"

# release V NFEATURES: the pipeline, from training to the smoke test.
release() {
	local b=$SCRATCH/build-$1
	step "CI: train and register $NAME@$1"
	install -d -o mfs_alice -g mfs_alice "$b" "$b/model"    # her build directory
	as mfs_alice /usr/bin/python3 -c "$DATA$TRAIN" "$b" "$1" "$2"
	as mfs_alice mc register "$b/model" "$NAME@$1" --metadata "$b/metadata.json" \
		--promote staging
	step "gate: production waits for a review"
	if as mfs_alice mc promote "$NAME" "$1" production 2>/dev/null; then
		echo "promoted without approval" >&2
		exit 1
	fi
	echo "  refused: no approval yet"
	as mfs_bob mc approve "$NAME" "$1" production "CI green, card read"
	step "CD: promote $1"
	as mfs_alice mc promote "$NAME" "$1" production
	notified
	step "smoke test through production/"
	if /usr/bin/python3 -c "$DATA$SMOKE" "$M/production"; then
		return 0
	fi
	step "the check failed: roll back"
	as mfs_alice mc rollback "$NAME" production
	notified
	/usr/bin/python3 -c "$DATA$SMOKE" "$M/production"
}
release 1.0.0 4
release 1.1.0 3

step "history of production"
mc history "$NAME" production

step "checks"
check "production" "$(readlink "$M/production")" versions/1.0.0
check "staging keeps the broken build for a look" "$(readlink "$M/staging")" versions/1.1.0
# Each production move: to, by whom, approved by, a rollback?
moves=$(/usr/bin/python3 -c '
import json, sys
for r in map(json.loads, open(sys.argv[1])):
    if r["alias"] == "production":
        print(r["to"], r["user"], ",".join(r["approvals"]) or "-", r["rollback"], end="; ")
' "$M/history.jsonl")
check "production moves" "$moves" \
	"1.0.0 mfs_alice mfs_bob False; 1.1.0 mfs_alice mfs_bob False; 1.0.0 mfs_alice - True; "
checks_passed || exit 1
echo "ok: $NAME trained, gated, approved, promoted, announced, smoke-tested and rolled back"
