#!/bin/bash
# examples/07-rollback/rollback.sh MNT - rolling back, and looking back.
#
# Every alias move is a line of the model's history.jsonl, written in the
# same transaction as the move. A move back to a version the alias held
# before is marked "rollback": true, whoever makes it and however
# (`modelctl rollback`, `ln -sfn`, `mv`). And models/<m>/@h<N>/ (or
# @<time>/) shows the aliases as they were right after record N: what was
# in production during an incident, readable file by file.
# MODELCTL names modelctl (default: this tree's build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
. "$(dirname "$0")/../lib.sh"     # MODELCTL, mc, SCRATCH, fresh_name, step, refused, check

NAME=$(fresh_name ex07-ranker)    # or ex07-ranker-2... if an earlier run took it
M=$MNT/models/$NAME

# last_seq: the seq of the model's last history record.
last_seq() { tail -n 1 "$M/history.jsonl" | sed 's/^{"seq":\([0-9]*\),.*/\1/'; }

step "four versions; production moves 1.0.0 -> 1.1.0 -> 1.2.0"
mkdir "$M"
for v in 1.0.0 1.1.0 1.2.0 1.3.0; do
	mkdir "$M/versions/$v"
	echo "ranker $v" >"$M/versions/$v/model.txt"
done
cd "$M"
for v in 1.0.0 1.1.0 1.2.0; do
	ln -sfn "versions/$v" production      # seals the draft, then moves
	echo "  production -> $v (history record $(last_seq))"
done
BAD=$(last_seq)

step "incident: 1.2.0 misbehaves. Back to the previous target"
mc rollback "$NAME" production
step "1.1.0 turns out to be affected too: back to 1.0.0, by hand"
ln -sfn versions/1.0.0 production             # also a rollback: 1.0.0 was there before
step "the fix, 1.3.0, goes out"
mc promote "$NAME" 1.3.0 production
mc history "$NAME" production

step "time travel: production right after record $BAD, when 1.2.0 went out"
ls -l "@h$BAD/"
cat "@h$BAD/production/model.txt"
ls "@h0/" | wc -l | sed 's/^/  aliases before any record: /'
T=$(sed -n "s/^{\"seq\":$BAD,\"time\":\"\([^\"]*\)\".*/\1/p" history.jsonl)
echo "  the same moment by time: @$T/production -> $(readlink "@$T/production")"

step "checks"
check "production" "$(readlink production)" versions/1.3.0
check "targets" "$(grep -o '"to":"[^"]*"' history.jsonl | cut -d'"' -f4 | tr '\n' ' ')" \
	"1.0.0 1.1.0 1.2.0 1.1.0 1.0.0 1.3.0 "
check "rollback flags" "$(grep -o '"rollback":[a-z]*' history.jsonl | cut -d: -f2 | tr '\n' ' ')" \
	"false false false true true false "
check "@h$BAD: production was 1.2.0" "$(cat "@h$BAD/production/model.txt")" "ranker 1.2.0"
check "@h0 is empty" "$(ls "@h0/" | wc -l)" 0
# At the record's own time, the view replays every record up to that time.
want=$(/usr/bin/python3 -c '
import json, sys
recs = [json.loads(l) for l in open("history.jsonl")]
print([r["to"] for r in recs if r["time"] <= sys.argv[1]][-1])' "$T")
check "@$T" "$(readlink "@$T/production")" "../versions/$want"
checks_passed || exit 1
echo "ok: two rollbacks recorded as such on $NAME, the past readable with @h$BAD"
