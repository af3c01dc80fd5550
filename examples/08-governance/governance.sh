#!/bin/bash
# examples/08-governance/governance.sh MNT - access control, the audit
# trail, and retention.
#
#   alice (group mfs_ml)   owns the model, shares it with her group only
#   bob   (groups mfs_ml)  a colleague: reads it
#   dave  (no group)       an outsider: refused everything
#
# The registry checks every request with the caller's uid and groups
# against the recorded owners and modes. Everything it decides, refusals
# included, is a record of audit.jsonl, hash-chained (modelctl audit
# verify), and each user sees the records of the models they own. A
# retention policy lets `modelctl gc` (admins) tombstone old versions no
# alias points at. Run as root (it acts as three users, created if
# missing, like the test suite's).
# MODELCTL names modelctl (default: this tree's build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
. "$(dirname "$0")/../lib.sh"     # MODELCTL, mc, SCRATCH, fresh_name, step, refused, check, as
# Root plays the three people above (created if missing); they read what the script
# writes to SCRATCH, and modelctl is copied there (see lib.sh).
act_as_users mfs_alice:mfs_ml mfs_bob:mfs_ml,mfs_ops mfs_dave

NAME=$(fresh_name ex08-credit)    # or ex08-credit-2... if an earlier run took it
M=$MNT/models/$NAME
# seen_by USER: the records of audit.jsonl USER may read, as "event model" lines.
seen_by() {
	as "$1" /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(r["event"], r.get("model", "-"), r["result"])' "$MNT/audit.jsonl"
}

step "alice registers $NAME for her group only (mode 0750, group mfs_ml)"
as mfs_alice mkdir "$M"
as mfs_alice chgrp mfs_ml "$M"
as mfs_alice chmod 0750 "$M"
echo '{"retention": {"keep_last": 2}}' >"$SCRATCH/policy.json"
as mfs_alice cp "$SCRATCH/policy.json" "$M/policy.json"
for v in 1.0.0 1.1.0 1.2.0 1.3.0 1.4.0; do
	as mfs_alice mkdir "$M/versions/$v"
	as mfs_alice sh -c "echo 'scorecard $v' > '$M/versions/$v/model.txt'"
	as mfs_alice setfattr -n user.modelfs.seal -v 1 "$M/versions/$v"
done
as mfs_alice ln -s versions/1.1.0 "$M/production"
ls -ld "$M"

step "bob (mfs_ml) reads; dave (no group) may not even list it"
as mfs_bob cat "$M/production/model.txt"
refused 'Permission denied' as mfs_dave ls "$M"
refused 'Permission denied' as mfs_dave cat "$M/versions/1.4.0/model.txt"
refused 'Permission denied' as mfs_bob mkdir "$M/versions/2.0.0"       # group may read, not write
refused 'Permission denied' as mfs_bob cp "$SCRATCH/policy.json" "$M/policy.json"
refused 'Read-only file system' sh -c "echo tampered > '$M/versions/1.4.0/model.txt'"  # root too

step "the audit trail: alice sees her model's records, others' refusals included"
seen_by mfs_alice | grep " $NAME " | sort | uniq -c
echo "  dave sees $(seen_by mfs_dave | grep -c " $NAME " || true) records of $NAME"

step "retention: keep the newest 2; production's 1.1.0 stays whatever its age"
refused 'Permission denied' as mfs_alice mc gc --dry-run   # admins only
mc gc --dry-run | grep "$NAME" || true
mc --json gc >"$SCRATCH/gc.json"
ls "$M/versions"
refused 'File exists' mkdir "$M/versions/1.0.0"     # a tombstone's name is never reused

step "verify the chain, and keep its head somewhere else"
mc audit verify
mc audit head

step "checks"
check "tombstoned by gc" "$(/usr/bin/python3 -c '
import json, sys
gone = json.load(open(sys.argv[1]))["tombstoned"]
print(" ".join(t["version"] for t in gone if t["model"] == sys.argv[2]))' \
	"$SCRATCH/gc.json" "$NAME")" "1.0.0 1.2.0"
check "versions left" "$(ls "$M/versions" | tr '\n' ' ')" "1.1.0 1.3.0 1.4.0 "
check "alice sees every record of her model" "$(seen_by mfs_alice | grep -c " $NAME ")" \
	"$(seen_by root | grep -c " $NAME ")"
check "the refusals among them (bob's two, root's write)" "$(seen_by mfs_alice | grep -c " $NAME denied")" 3
check "dave sees nothing of $NAME" "$(seen_by mfs_dave | grep -c " $NAME " || true)" 0
check "the tombstones are audited" "$(seen_by mfs_alice | grep -c "version.delete $NAME ok")" 2
check "the audit chain verifies" "$(mc -q audit verify && echo yes)" yes
checks_passed || exit 1
echo "ok: access refused to outsiders, audited, chain verified, retention applied on $NAME"
