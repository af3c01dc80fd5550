# tools/lib.sh - shared by run.sh and test.sh: install what is missing, build.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MODELFS_BUILD:-$ROOT/build}

RUNTIME_PKGS=(libfuse3-dev fuse3 liblmdb-dev libxxhash-dev libcjson-dev libssl-dev meson
	ninja-build pkg-config gcc attr libpq-dev postgresql libsystemd-dev libyaml-dev)
TEST_PKGS=(libcmocka-dev python3-pytest python3-numpy python3-sklearn python3-yaml
	python3-joblib python3-onnx python3-h5py python3-torch rsync xxhash tar strace
	lmdb-utils valgrind
	passwd util-linux		# useradd and setpriv for the governance tests
	systemd man-db			# systemd-analyze verify, man -l: dist/
	debhelper dpkg-dev build-essential	# dpkg-buildpackage of debian/
	clang libclang-rt-14-dev)	# libFuzzer

say() { printf '==> %s\n' "$*"; }

# Install the Debian packages named that are not installed yet.
install_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "modelfs needs: ${missing[*]}" >&2
		echo "run as root, or: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
		return 1
	fi
	say "installing ${missing[*]}"
	# A fresh machine has no package lists.
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# Configure (once) and build the tree into $1 (default: $BUILD), extra
# meson options after it.
build() {
	local dir=${1:-$BUILD}
	shift || true
	if [ ! -f "$dir/build.ninja" ]; then
		say "configuring $dir"
		meson setup "$dir" "$ROOT" "$@" >/dev/null
	fi
	say "building $dir"
	ninja -C "$dir" >/dev/null
}
