#!/bin/bash
# tools/run.sh [MOUNTPOINT] - install, build, mount the registry with a demo model.
#
# The store is modelfs's default (the embedded LMDB + blob store):
# $MODELFS_STORE if set, /var/lib/modelfs for root, else
# ~/.local/share/modelfs. Running it twice is fine.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MNT=${1:-$ROOT/mnt}
install_pkgs "${RUNTIME_PKGS[@]}"
build
MODELFS=$BUILD/fs/modelfs
MODELCTL=$BUILD/tools/modelctl

mkdir -p "$MNT"
MNT=$(cd "$MNT" && pwd)
if mountpoint -q "$MNT" 2>/dev/null; then
	if store=$(getfattr --only-values -n user.modelfs.store "$MNT" 2>/dev/null); then
		say "$MNT already serves the registry in $store"
	else
		echo "run.sh: $MNT is already a mount point of something else" >&2
		exit 1
	fi
else
	if ! ls "$MNT" >/dev/null 2>&1; then
		# A daemon that died leaves ENOTCONN behind: clear it.
		fusermount3 -uz "$MNT" 2>/dev/null || true
	fi
	say "mounting the registry at $MNT"
	"$MODELFS" "$MNT"
fi

M=$MNT/models/demo
if [ ! -d "$M" ]; then
	say "registering the demo model 'demo' (versions 1.0.0 and 1.1.0)"
	mkdir "$M"
	for v in 1.0.0 1.1.0; do
		src=$(mktemp -d)
		cp -r "$ROOT/examples/demo-model/." "$src/"
		printf '{"version": "%s", "weights": [0.1, 0.2, 0.3]}\n' "$v" >"$src/weights.json"
		sed "s/@VERSION@/$v/" "$ROOT/examples/demo-model/metadata.json" >"$src/metadata.json"
		cp -r "$src" "$M/versions/$v"
		rm -rf "$src"
	done
	# Pointing an alias at a draft seals it; seal the other explicitly.
	ln -s versions/1.0.0 "$M/production"
	setfattr -n user.modelfs.seal -v 1 "$M/versions/1.1.0"
fi

cat <<MSG

modelfs is mounted at $MNT. Try:

  ls -l $MNT/models/demo/                 # versions/, aliases, latest
  cat $MNT/models/demo/production/metadata.json
  mkdir $MNT/models/mine && cp -r ./some-model $MNT/models/mine/versions/1.0.0
  cd $MNT/models/demo && ln -sfn versions/1.1.0 production    # promote (atomic)
  ln -sfn versions/1.0.0 production                           # roll back
  $MODELCTL -m $MNT list
  fusermount3 -u $MNT                      # unmount

MSG
