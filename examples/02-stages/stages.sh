#!/bin/bash
# examples/02-stages/stages.sh MNT - stages as aliases, and the lifecycle.
#
# A stage is an alias: a symlink in the model's directory naming one of its
# versions (staging -> versions/1.1.0). Moving a stage is `ln -sfn`, one
# atomic rename; the policy decides the transitions: here production only
# takes what is at staging, and the version production leaves becomes
# `deprecated`. Versions then retire: archived versions can no longer be
# aliased, and `latest` skips them.
# MODELCTL names modelctl (default: this tree's build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
. "$(dirname "$0")/../lib.sh"     # MODELCTL, mc, SCRATCH, fresh_name, step, refused, check

# lifecycle V: active, deprecated or archived (from the version's metadata.json)
lifecycle() {
	/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["registry"]["lifecycle"])' \
		"$M/versions/$1/metadata.json"
}
NAME=$(fresh_name ex02-stages)    # or ex02-stages-2... if an earlier run took it
M=$MNT/models/$NAME
SRC=$SCRATCH/model                # what each version holds, registered from here
mkdir "$SRC"

step "register $NAME with its policy: production only from staging"
mkdir "$M"
cat >"$SCRATCH/policy.json" <<'JSON'
{
  "description": "staging -> production; what production leaves is deprecated",
  "aliases": {
    "production": {"gates": {"from_alias": "staging"}, "on_replace": "deprecated"}
  }
}
JSON
cp "$SCRATCH/policy.json" "$M/policy.json"      # checked when cp closes it
for v in 1.0.0 1.1.0 1.2.0; do
	echo "{\"weights\": \"$v\"}" >"$SRC/model.json"
	mc register "$SRC" "$NAME@$v" --seal
done

step "stages are symlinks: create staging, read through it"
cd "$M"
ln -s versions/1.0.0 staging
ls -l staging
cat staging/model.json

step "production takes only what staging holds"
refused 'Operation not permitted' ln -sfn versions/1.1.0 production
ln -sfn versions/1.0.0 production
ln -sfn versions/1.1.0 staging
ln -sfn versions/1.1.0 production    # 1.0.0 leaves production: deprecated
ln -sfn versions/1.2.0 staging
ln -sfn versions/1.2.0 production    # 1.1.0 deprecated too
ls -l production staging
mc history "$NAME"

step "retire: archive the oldest version, clear staging"
mc archive "$NAME" 1.0.0
refused 'Operation not permitted' ln -sfn versions/1.0.0 staging   # archived
refused 'Device or resource busy' mc archive "$NAME" 1.2.0   # in production
rm staging                                   # an alias goes with rm
refused 'Operation not permitted' rm production   # protected: moved, never removed
for v in 1.0.0 1.1.0 1.2.0; do echo "  $v: $(lifecycle $v)"; done
mc find "model == \"$NAME\" and lifecycle != \"active\""

step "checks"
check "production" "$(readlink production)" versions/1.2.0
check "staging removed" "$(ls -d staging 2>/dev/null || echo none)" none
check "lifecycles" "$(lifecycle 1.0.0) $(lifecycle 1.1.0) $(lifecycle 1.2.0)" "archived deprecated active"
check "production moves" "$(grep -c '"alias":"production"' history.jsonl)" 3
check "latest" "$(readlink latest)" versions/1.2.0
checks_passed || exit 1
echo "ok: staging -> production transitions, deprecation and archiving shown on $NAME"
