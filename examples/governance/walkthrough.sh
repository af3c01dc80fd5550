#!/bin/bash
# examples/governance/walkthrough.sh MNT - governance on a live registry,
# played by four people:
#   alice (group mfs_ml)           data scientist: registers the model
#   bob   (groups mfs_ml, mfs_ops) stages versions, approves
#   carol (group mfs_ops)          MLOps: promotes to production
#   dave  (no group)               reviewer: approves
# It writes a policy, stages a version, is refused a promotion (no
# approvals yet), gets two approvals, promotes, is refused a version whose
# AUC is too low, promotes a better one, rolls back, prints the history and
# verifies the audit trail. Run it as root on a mounted registry (root is
# needed to act as the four users; they are created if missing, like the
# test suite's): tools/run.sh, then examples/governance/walkthrough.sh MNT.
# MODELCTL names the modelctl binary (default: the one next to this tree's
# build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"     # MODELCTL, mc, SCRATCH, step, expect_refusal, as
M=$MNT/models/fraud

# The four people (created if missing); what they use - modelctl and the
# policy - is copied into SCRATCH, where they can read it.
act_as_users mfs_alice:mfs_ml mfs_bob:mfs_ml,mfs_ops mfs_carol:mfs_ops mfs_dave
install -m 0644 "$HERE/policy.json" "$SCRATCH/policy.json"

# refused CMD...: CMD must fail; show its complaint.
refused() {
	expect_refusal '' "$@"
	echo "refused, as it should be: ${REFUSAL##*: }"
}

# version USER V AUC: register version V with an ONNX file, a model card
# and metadata, then seal it.
version() {
	local v=$M/versions/$2
	as "$1" mkdir "$v"
	as "$1" sh -c "printf '\\010\\007\\022\\007pytorch%064d' 0 > '$v/model.onnx'"
	as "$1" sh -c "printf '# fraud %s\\n' '$2' > '$v/README.md'"
	as "$1" sh -c "printf '{\"dataset_snapshot_id\": \"snap-$2\", \"metrics\": {\"auc\": $3}}' > '$v/metadata.json'"
	as "$1" mc seal fraud "$2"
}

step "alice registers 'fraud' and writes its policy (kept in git, copied in)"
as mfs_alice mkdir -m 0755 "$M"
as mfs_alice cp "$SCRATCH/policy.json" "$M/policy.json"
echo '{"aliases": {"production": {"approvals": "two"}}}' >"$SCRATCH/bad-policy.json"
refused as mfs_alice cp "$SCRATCH/bad-policy.json" "$M/policy.json"

step "alice registers 1.0.0 (AUC 0.91) and 1.1.0 (AUC 0.87)"
version mfs_alice 1.0.0 0.91
version mfs_alice 1.1.0 0.87
refused as mfs_alice mkdir "$M/versions/1.0.5"    # semver.monotonic

step "bob stages 1.0.0; carol may not (staging is mfs_ml's)"
refused as mfs_carol ln -sfn versions/1.0.0 "$M/staging"
as mfs_bob ln -sfn versions/1.0.0 "$M/staging"

step "carol promotes 1.0.0: refused, no approvals yet"
refused as mfs_carol ln -sfn versions/1.0.0 "$M/production"

step "alice cannot approve her own version; bob and dave approve"
refused as mfs_alice setfattr -n user.modelfs.approve -v production "$M/versions/1.0.0"
as mfs_bob setfattr -n user.modelfs.approve -v 'production checked the eval report' "$M/versions/1.0.0"
as mfs_dave mc approve fraud 1.0.0 production fine by me

step "carol promotes 1.0.0"
as mfs_carol ln -sfn versions/1.0.0 "$M/production"
ls -l "$M/production"

step "1.1.0 is staged, approved, and still refused: its AUC is below 0.90"
as mfs_bob ln -sfn versions/1.1.0 "$M/staging"
as mfs_bob mc approve fraud 1.1.0 production
as mfs_dave mc approve fraud 1.1.0 production
refused as mfs_carol ln -sfn versions/1.1.0 "$M/production"

step "1.2.0 (AUC 0.95) goes all the way; 1.0.0 is deprecated on the way out"
version mfs_alice 1.2.0 0.95
as mfs_bob ln -sfn versions/1.2.0 "$M/staging"
as mfs_bob mc approve fraud 1.2.0 production
as mfs_dave mc approve fraud 1.2.0 production
as mfs_carol ln -sfn versions/1.2.0 "$M/production"
grep -o '"lifecycle": "[a-z]*"' "$M/versions/1.0.0/metadata.json"

step "production cannot be removed, not even by root"
refused rm "$M/production"

step "an incident: carol rolls production back (the policy exempts rollbacks)"
as mfs_carol mc rollback fraud production
ls -l "$M/production"

step "the history of production, and the audit trail verified"
mc history fraud production
mc audit verify
