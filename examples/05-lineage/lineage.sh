#!/bin/bash
# examples/05-lineage/lineage.sh MNT - the lineage of a fine-tune chain.
#
# Each version names what it was made from in its metadata's "parents"
# ("model@version"). A public base model, domain-adapted, fine-tuned twice
# for a task, then distilled into a small model:
#
#   hf-bert-base-uncased@1.0.0 (not in this registry: a hub model)
#     -> ENC@1.0.0 -> INTENT@1.0.0 -> INTENT@1.1.0 -> SMALL@1.0.0
#
# The registry resolves the parents it has (a parent must be sealed
# before its child), keeps the others as unresolved, shows the chain in
# each version's lineage.json, and `modelctl lineage` renders it as DOT
# (Graphviz) or Mermaid (Markdown) for a model card.
# MODELCTL names modelctl (default: this tree's build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
. "$(dirname "$0")/../lib.sh"     # MODELCTL, mc, SCRATCH, fresh_name, step, refused, check

# A fresh prefix: ex05, or ex05-2... when an earlier run took it.
P=$(fresh_name ex05 -encoder)
ENC=$P-encoder INTENT=$P-intent SMALL=$P-intent-small
HUB=hf-bert-base-uncased@1.0.0

# draft MODEL VERSION PARENT SNAPSHOT: a version with weights and metadata.
draft() {
	local v=$MNT/models/$1/versions/$2
	mkdir -p "$MNT/models/$1"
	mkdir "$v"
	head -c 4096 /dev/urandom >"$v/weights.bin"
	printf '{"parents": ["%s"], "dataset_snapshot_id": "%s", "run_id": "run-%s-%s"}\n' \
		"$3" "$4" "$1" "$2" >"$SCRATCH/metadata.json"
	cp "$SCRATCH/metadata.json" "$v/metadata.json"     # checked when cp closes it
}

step "a parent must be sealed before its child"
draft "$ENC" 1.0.0 "$HUB" tickets-2026-10
draft "$INTENT" 1.0.0 "$ENC@1.0.0" intents-v1
if mc seal "$INTENT" 1.0.0 2>"$SCRATCH/err"; then echo "sealed before its parent" >&2; exit 1; fi
echo "  refused: $(cat "$SCRATCH/err")"
echo "  (the daemon's log says why: parent '$ENC@1.0.0' is a draft; seal it first)"
mc seal "$ENC" 1.0.0              # a hub parent need not be here
mc seal "$INTENT" 1.0.0           # now it can

step "fine-tune again, then distil"
draft "$INTENT" 1.1.0 "$INTENT@1.0.0" intents-v2
mc seal "$INTENT" 1.1.0
draft "$SMALL" 1.0.0 "$INTENT@1.1.0" intents-v2
mc seal "$SMALL" 1.0.0

step "lineage.json of $SMALL@1.0.0: parents, and every ancestor with its depth"
L=$MNT/models/$SMALL/versions/1.0.0/lineage.json
/usr/bin/python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))
print("  parents:", [p["ref"] for p in l["parents"]])
for a in l["ancestors"]:
    print("  depth %d  %-32s resolved=%-5s snapshot=%s"
          % (a["depth"], a["ref"], a["resolved"], a.get("dataset_snapshot_id")))
' "$L"

step "rendered: DOT (pipe into dot -Tsvg) and Mermaid"
mc lineage "$SMALL@1.0.0" --format dot | tee "$SCRATCH/small.dot"
mc lineage "$ENC@1.0.0" --descendants --format mermaid | tee "$SCRATCH/encoder.mmd"

step "checks"
edges=$(grep -- '->' "$SCRATCH/small.dot" | sed 's/^ *//' | sort)
want=$(printf '"%s" -> "%s";\n' "$HUB" "$ENC@1.0.0" "$ENC@1.0.0" "$INTENT@1.0.0" \
	"$INTENT@1.0.0" "$INTENT@1.1.0" "$INTENT@1.1.0" "$SMALL@1.0.0" | sort)
check "DOT edges" "$edges" "$want"
check "the hub model is dashed (unresolved)" "$(grep -c "\"$HUB\" \[style=dashed\]" "$SCRATCH/small.dot")" 1
check "Mermaid: four descendants' edges" "$(grep -c -- '-->' "$SCRATCH/encoder.mmd")" 4
check "ancestors by depth" "$(/usr/bin/python3 -c '
import json, sys
print(" ".join("%d:%s" % (a["depth"], a["ref"]) for a in json.load(open(sys.argv[1]))["ancestors"]))' "$L")" \
	"1:$INTENT@1.1.0 2:$INTENT@1.0.0 3:$ENC@1.0.0 4:$HUB"
check "children of the encoder" "$(/usr/bin/python3 -c '
import json, sys
print(" ".join(json.load(open(sys.argv[1]))["children"]))' \
	"$MNT/models/$ENC/versions/1.0.0/lineage.json")" "$INTENT@1.0.0"
checks_passed || exit 1
echo "ok: the lineage of $SMALL@1.0.0 rendered as DOT and Mermaid"
