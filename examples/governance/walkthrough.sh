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
MODELCTL=${MODELCTL:-$HERE/../../build/tools/modelctl}
[ -x "$MODELCTL" ] || MODELCTL=modelctl
M=$MNT/models/fraud

if [ "$(id -u)" -ne 0 ]; then
	echo "$0: run as root (it acts as several users)" >&2
	exit 2
fi
# The four people may not be able to read this tree (a clone in a 0700
# directory): what they use - the policy and modelctl - is copied where
# they can.
SHARE=$(mktemp -d)
trap 'rm -rf "$SHARE"' EXIT
chmod 0755 "$SHARE"
install -m 0644 "$HERE/policy.json" "$SHARE/policy.json"
if [ "${MODELCTL#*/}" != "$MODELCTL" ]; then
	install -m 0755 "$MODELCTL" "$SHARE/modelctl"
	MODELCTL=$SHARE/modelctl
fi
for g in mfs_ml mfs_ops; do getent group $g >/dev/null || groupadd $g; done
mk_user() {
	getent passwd "$1" >/dev/null && return
	useradd -M -U -s /bin/sh -d /nonexistent ${2:+-G "$2"} "$1"
}
mk_user mfs_alice mfs_ml
mk_user mfs_bob mfs_ml,mfs_ops
mk_user mfs_carol mfs_ops
mk_user mfs_dave ""

# as USER CMD...: run CMD as USER with its groups.
as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --init-groups -- env HOME=/ "$@"
}
step() { printf '\n== %s\n' "$*"; }
# refused CMD...: CMD must fail; show its complaint.
refused() {
	if out=$("$@" 2>&1); then
		echo "unexpectedly allowed: $*" >&2
		exit 1
	fi
	echo "refused, as it should be: ${out##*: }"
}
# version USER V AUC: register version V with an ONNX file, a model card
# and metadata, then seal it.
version() {
	local v=$M/versions/$2
	as "$1" mkdir "$v"
	as "$1" sh -c "printf '\\010\\007\\022\\007pytorch%064d' 0 > '$v/model.onnx'"
	as "$1" sh -c "printf '# fraud %s\\n' '$2' > '$v/README.md'"
	as "$1" sh -c "printf '{\"dataset_snapshot_id\": \"snap-$2\", \"metrics\": {\"auc\": $3}}' > '$v/metadata.json'"
	as "$1" "$MODELCTL" -m "$MNT" seal fraud "$2"
}

step "alice registers 'fraud' and writes its policy (kept in git, copied in)"
as mfs_alice mkdir -m 0755 "$M"
as mfs_alice cp "$SHARE/policy.json" "$M/policy.json"
echo '{"aliases": {"production": {"approvals": "two"}}}' >"$SHARE/bad-policy.json"
chmod 0644 "$SHARE/bad-policy.json"
refused as mfs_alice cp "$SHARE/bad-policy.json" "$M/policy.json"

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
as mfs_dave "$MODELCTL" -m "$MNT" approve fraud 1.0.0 production fine by me

step "carol promotes 1.0.0"
as mfs_carol ln -sfn versions/1.0.0 "$M/production"
ls -l "$M/production"

step "1.1.0 is staged, approved, and still refused: its AUC is below 0.90"
as mfs_bob ln -sfn versions/1.1.0 "$M/staging"
as mfs_bob "$MODELCTL" -m "$MNT" approve fraud 1.1.0 production
as mfs_dave "$MODELCTL" -m "$MNT" approve fraud 1.1.0 production
refused as mfs_carol ln -sfn versions/1.1.0 "$M/production"

step "1.2.0 (AUC 0.95) goes all the way; 1.0.0 is deprecated on the way out"
version mfs_alice 1.2.0 0.95
as mfs_bob ln -sfn versions/1.2.0 "$M/staging"
as mfs_bob "$MODELCTL" -m "$MNT" approve fraud 1.2.0 production
as mfs_dave "$MODELCTL" -m "$MNT" approve fraud 1.2.0 production
as mfs_carol ln -sfn versions/1.2.0 "$M/production"
grep -o '"lifecycle": "[a-z]*"' "$M/versions/1.0.0/metadata.json"

step "production cannot be removed, not even by root"
refused rm "$M/production"

step "an incident: carol rolls production back (the policy exempts rollbacks)"
as mfs_carol "$MODELCTL" -m "$MNT" rollback fraud production
ls -l "$M/production"

step "the history of production, and the audit trail verified"
"$MODELCTL" -m "$MNT" history fraud production
"$MODELCTL" -m "$MNT" audit verify
