#!/bin/bash
# examples/01-semver/semver.sh MNT - naming rules and SemVer precedence.
#
# A model is a directory under MNT/models/ whose name is [A-Za-z0-9._-]
# (not starting with a dot); a version is a directory under versions/ whose
# name is a SemVer 2.0.0 string. The registry orders versions by SemVer
# precedence (1.10.0 > 1.9.0, 1.0.0-rc.1 < 1.0.0), keeps `latest` on the
# highest sealed release, and refuses names that are not versions, names
# equal in precedence to an existing one, and names used before.
# MODELCTL names modelctl (default: this tree's build, else PATH).
set -euo pipefail
MNT=${1:?usage: $0 MOUNTPOINT}
. "$(dirname "$0")/../lib.sh"     # MODELCTL, mc, SCRATCH, fresh_name, step, refused, check

# The model's name: ex01-naming, or -2, -3... if an earlier run took it.
NAME=$(fresh_name ex01-naming)
M=$MNT/models/$NAME

step "model names: letters, digits, '.', '_', '-'"
mkdir "$M"
refused 'Invalid argument' mkdir "$MNT/models/churn model"
refused 'Invalid argument' mkdir "$MNT/models/.hidden"
refused 'Operation not permitted' mv "$M" "$M-renamed"   # a name is an identity

step "version names are SemVer 2.0.0 (created in a jumbled order)"
for v in 1.10.0 1.0.0-rc.1 2.0.0-rc.1 1.0.0 1.0.0-alpha 1.9.0 1.0.0-alpha.1 0.1.0; do
	mkdir "$M/versions/$v"
	echo "weights of $v" >"$M/versions/$v/model.bin"
	echo "  made $v"
done
for v in v1.0.0 1.0 1.0.0.0 01.0.0 1.0.0-01 1.0.0- 1.0.0+ latest; do
	refused 'Invalid argument' mkdir "$M/versions/$v"
done
# Build metadata (+...) does not count in precedence: 1.0.0+build.7 would
# be a second 1.0.0.
refused 'File exists' mkdir "$M/versions/1.0.0+build.7"

step "the registry lists versions by precedence, not alphabetically"
mc list "$NAME"
ORDER=$(mc list "$NAME" | awk 'NR > 1 { print $1 }' | tr '\n' ' ')

step "latest: the highest sealed release (a pre-release only while no release is sealed)"
seal() {
	setfattr -n user.modelfs.seal -v 1 "$M/versions/$1"
	printf '  sealed %-12s latest -> %s\n' "$1" "$(readlink "$M/latest")"
}
seal 2.0.0-rc.1      # no release yet: the highest pre-release
L1=$(readlink "$M/latest")
seal 1.0.0-alpha     # lower than 2.0.0-rc.1: latest stays
seal 1.9.0           # the first release wins over any pre-release
L2=$(readlink "$M/latest")
seal 1.10.0          # 10 > 9: numbers compare as numbers
seal 1.0.0
L3=$(readlink "$M/latest")
refused 'Invalid argument' ln -sfn versions/1.0.0 "$M/latest"   # the registry's own
# An alias may not look like a version: MODEL@1.0.0 must mean one thing.
refused 'Invalid argument' ln -s versions/1.0.0 "$M/1.0.0"

step "a deleted version leaves a tombstone: its name is never reused"
rm -rf "$M/versions/0.1.0"                        # a draft: simply removed,
mkdir "$M/versions/0.1.0"                         # so its name is free again
echo w >"$M/versions/0.1.0/model.bin"
seal 0.1.0
rmdir "$M/versions/0.1.0"                         # sealed: a tombstone
refused 'File exists' mkdir "$M/versions/0.1.0"
refused 'File exists' mkdir "$M/versions/0.1.0+rebuild"

step "semver.monotonic: new versions must rank above every existing one"
# Documents (policy.json, metadata.json) are checked when closed: write
# them elsewhere and cp them in, so that a refusal reaches you (a shell's
# `echo ... > policy.json` cannot report an error of close()).
echo '{"semver": {"monotonic": true}}' >"$SCRATCH/policy.json"
cp "$SCRATCH/policy.json" "$M/policy.json"
refused 'Operation not permitted' mkdir "$M/versions/1.9.1"
mkdir "$M/versions/2.0.0"
echo "weights of 2.0.0" >"$M/versions/2.0.0/model.bin"
seal 2.0.0

step "checks"
check "precedence order" "$ORDER" "0.1.0 1.0.0-alpha 1.0.0-alpha.1 1.0.0-rc.1 1.0.0 1.9.0 1.10.0 2.0.0-rc.1 "
check "latest with only pre-releases" "$L1" versions/2.0.0-rc.1
check "latest at the first release" "$L2" versions/1.9.0
check "latest after sealing a lower release" "$L3" versions/1.10.0
check "latest at the end" "$(readlink "$M/latest")" versions/2.0.0
check "versions left" "$(ls "$M/versions" | sort -V | tr '\n' ' ')" \
	"1.0.0 1.0.0-alpha 1.0.0-alpha.1 1.0.0-rc.1 1.9.0 1.10.0 2.0.0 2.0.0-rc.1 "
checks_passed || exit 1
echo "ok: SemVer names accepted and refused, precedence and latest shown on $NAME"
