#!/bin/bash
# examples/06-promotion/promotion.sh MNT - a promotion workflow: gates and
# approvals in the model's policy.json, enforced by the filesystem.
#
#   alice (group mfs_ml)           data scientist: registers versions
#   bob   (groups mfs_ml, mfs_ops) reviewer: approves
#   carol (group mfs_ops)          release manager: approves, promotes
#   dave  (no group)               may read, may not approve
#
# staging takes a version only with its model card and its provenance keys;
# production only from staging, with AUC >= 0.90, an ONNX file, and two
# approvals from mfs_ops. Each refusal is printed with the reason the
# registry recorded in audit.jsonl. Run as root (it acts as four users,
# created if missing, like the test suite's).
# MODELCTL names modelctl (default: this tree's build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
. "$(dirname "$0")/../lib.sh"     # MODELCTL, mc, SCRATCH, fresh_name, step, refused, check, as
# Root plays the four people above (created if missing); they read what the script
# writes to SCRATCH, and modelctl is copied there (see lib.sh).
act_as_users mfs_alice:mfs_ml mfs_bob:mfs_ml,mfs_ops mfs_carol:mfs_ops mfs_dave

NAME=$(fresh_name ex06-fraud)     # or ex06-fraud-2... if an earlier run took it
M=$MNT/models/$NAME
# refused WHY CMD...: CMD must fail saying WHY; print the registry's reason
# (the last denial on this model in the audit trail, which root reads whole).
refused() {
	expect_refusal "$@"
	echo "  refused ($1): $(/usr/bin/python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print([r for r in recs if r.get("model") == sys.argv[2] and r["result"] == "denied"][-1]["reason"])
' "$MNT/audit.jsonl" "$NAME")"
}

step "alice registers $NAME and its policy"
cat >"$SCRATCH/policy.json" <<'JSON'
{
  "description": "fraud: staging needs a model card, production two approvals",
  "aliases": {
    "staging": {
      "gates": {"required_files": ["MODEL_CARD.md"],
                "required_keys": ["dataset_snapshot_id", "metrics.auc"]}
    },
    "production": {
      "groups": ["mfs_ops"],
      "approvals": 2,
      "approvers": {"groups": ["mfs_ops"]},
      "gates": {"from_alias": "staging", "metrics.auc": ">= 0.90", "format": "onnx"},
      "on_replace": "deprecated"
    }
  }
}
JSON
# A real (tiny) ONNX file, for the format gate.
/usr/bin/python3 -c '
import sys, onnx
from onnx import helper, TensorProto
io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in "xy"]
g = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"])], "fraud", io[:1], io[1:])
onnx.save(helper.make_model(g), sys.argv[1])' "$SCRATCH/model.onnx"
as mfs_alice mkdir -m 0755 "$M"
as mfs_alice cp "$SCRATCH/policy.json" "$M/policy.json"

# version V AUC [CARD]: alice registers V; with CARD, a model card too.
version() {
	local v=$M/versions/$1
	as mfs_alice mkdir "$v"
	as mfs_alice cp "$SCRATCH/model.onnx" "$v/model.onnx"
	[ -z "${3:-}" ] || as mfs_alice sh -c "echo '# $NAME $1: trained on snap-42' > '$v/MODEL_CARD.md'"
	echo "{\"dataset_snapshot_id\": \"snap-42\", \"metrics\": {\"auc\": $2}}" >"$SCRATCH/meta.json"
	as mfs_alice cp "$SCRATCH/meta.json" "$v/metadata.json"
	as mfs_alice mc seal "$NAME" "$1"
}

step "1.0.0 has no model card: staging refuses it"
version 1.0.0 0.93
refused 'Operation not permitted' as mfs_alice ln -sfn versions/1.0.0 "$M/staging"

step "1.1.0 reaches staging, but its AUC is too low for production"
version 1.1.0 0.88 card
as mfs_alice ln -sfn versions/1.1.0 "$M/staging"
refused 'Operation not permitted' as mfs_carol ln -sfn versions/1.1.0 "$M/production"

step "1.2.0: staged; promotion waits for two approvals from mfs_ops"
version 1.2.0 0.94 card
as mfs_alice ln -sfn versions/1.2.0 "$M/staging"
refused 'Permission denied' as mfs_alice ln -sfn versions/1.2.0 "$M/production"   # not mfs_ops
refused 'Operation not permitted' as mfs_carol ln -sfn versions/1.2.0 "$M/production"
refused 'Operation not permitted' as mfs_alice mc approve "$NAME" 1.2.0 production
refused 'Permission denied' as mfs_dave mc approve "$NAME" 1.2.0 production
as mfs_bob mc approve "$NAME" 1.2.0 production "eval report checked"
as mfs_carol setfattr -n user.modelfs.approve -v 'production ok to ship' "$M/versions/1.2.0"
mc find "model == \"$NAME\" and approvals.production >= 2"

step "carol promotes 1.2.0"
as mfs_carol ln -sfn versions/1.2.0 "$M/production"
mc history "$NAME" production

step "checks"
check "production" "$(readlink "$M/production")" versions/1.2.0
check "the move used two approvals" "$(/usr/bin/python3 -c '
import json, sys
moves = [json.loads(l) for l in open(sys.argv[1]) if "\"production\"" in l]
print(" ".join(sorted(moves[-1]["approvals"])))' "$M/history.jsonl")" "mfs_bob mfs_carol"
check "denials recorded for $NAME" \
	"$(grep -c "\"model\":\"$NAME\".*\"result\":\"denied\"" "$MNT/audit.jsonl")" 6
checks_passed || exit 1
echo "ok: gates and approvals enforced on $NAME: 6 refusals, then one approved promotion"
