# examples/lib.sh - the plumbing the bash examples share. Sourced, not run:
# shellcheck shell=bash
#
#     set -euo pipefail
#     MNT=${1:?usage: $0 MOUNTPOINT}
#     . "$(dirname "$0")/../lib.sh"
#
# It gives an example MODELCTL and mc (modelctl on this mount), SCRATCH (a
# temporary directory), fresh_name (a model name no earlier run took),
# step, refused and check (the output every example prints), and for the
# examples that play several people, act_as_users and as. What modelfs
# itself does - the files, links and attributes an example uses - stays in
# the example: nothing here hides a registry operation.

EXAMPLES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# MODELCTL: the modelctl program. The caller's $MODELCTL, else this tree's
# build (build/tools/modelctl), else the one in PATH.
MODELCTL=${MODELCTL:-$EXAMPLES/../build/tools/modelctl}
[ -x "$MODELCTL" ] || MODELCTL=modelctl

# mc ARGS...: modelctl for the registry mounted at MNT. `-m MNT` tells
# modelctl which registry (it reads the store's path from the mount's
# user.modelfs.store attribute, and goes through the mount for what only
# the daemon may do, such as sealing).
mc() { "$MODELCTL" -m "$MNT" "$@"; }

# SCRATCH: a directory of this run's own, removed when the script exits.
# Examples write documents (policy.json, metadata.json) there and cp them
# into the mount: the registry checks a document when it is closed, and cp
# reports an error of close() where a shell's `echo ... > file` cannot.
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

# fresh_name BASE [SUFFIX]: BASE, or BASE-2, BASE-3... the first for which
# MNT/models/BASE<SUFFIX> does not exist, so an example runs again on the
# same registry (what an earlier run registered stays there).
fresh_name() {
	local name=$1 i=1
	while [ -e "$MNT/models/$name${2:-}" ]; do
		i=$((i + 1))
		name=$1-$i
	done
	echo "$name"
}

# step TEXT: a heading in the output, one per thing the example shows.
step() { printf '\n== %s\n' "$*"; }

# expect_refusal WHY CMD...: CMD must fail, and what it prints must contain
# WHY - the text of the errno the registry answered with: 'Operation not
# permitted' (EPERM: a rule or gate says no), 'Permission denied' (EACCES:
# not this user), 'Invalid argument' (EINVAL: not a valid name or
# document), 'File exists' (EEXIST), 'Device or resource busy' (EBUSY),
# 'Read-only file system' (EROFS: sealed). Otherwise the example stops, as
# a rule it shows did not hold. What CMD printed is left in $REFUSAL.
expect_refusal() {
	local why=$1
	shift
	if REFUSAL=$("$@" 2>&1); then
		echo "unexpectedly allowed: $*" >&2
		exit 1
	fi
	case $REFUSAL in
	*"$why"*) ;;
	*) echo "refused, but not with '$why': $REFUSAL" >&2; exit 1 ;;
	esac
}

# refused WHY CMD...: expect_refusal, then print the command as you would
# type it (paths relative to MNT, `modelctl` for mc).
refused() {
	expect_refusal "$@"
	local why=$1 arg cmd=
	shift
	for arg in "$@"; do
		[ "$arg" != mc ] || arg=modelctl
		cmd+=" $arg"
	done
	echo "  refused ($why):${cmd//"$MNT/"/}"
}

# check WHAT GOT WANT: print "ok: WHAT" when GOT is WANT, else a FAILED line
# naming both. The checks go on after a failure, so that all are shown;
# checks_passed, after the last one, fails if any did.
CHECKS_FAILED=0
check() {
	if [ "$2" = "$3" ]; then
		echo "  ok: $1"
	else
		echo "FAILED: $1: got '$2', expected '$3'" >&2
		CHECKS_FAILED=1
	fi
}
checks_passed() { [ "$CHECKS_FAILED" -eq 0 ]; }

# act_as_users USER[:GROUP,...]...: for the examples that play several
# people; they run as root, which may act as anyone. Creates each USER if
# missing, in those groups (a group of its own too, no home, no password:
# like the test suite's users). Then hands them what the example shares:
# this checkout may sit in a directory they cannot enter (a 0700 home), so
# SCRATCH becomes readable by all (0755, and umask 022 for what the example
# writes there from now on: policies, metadata, models) and modelctl is
# copied into it. They run programs only (see `as`): they never source
# this file, so it need not be copied.
act_as_users() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$0: run as root (it acts as several users)" >&2
		exit 2
	fi
	local spec user groups group
	for spec in "$@"; do
		user=${spec%%:*}
		groups=
		[ "$spec" = "$user" ] || groups=${spec#*:}
		for group in ${groups//,/ }; do
			getent group "$group" >/dev/null || groupadd "$group"
		done
		getent passwd "$user" >/dev/null ||
			useradd -M -U -s /bin/sh -d /nonexistent ${groups:+-G "$groups"} "$user"
	done
	chmod 0755 "$SCRATCH"
	umask 022
	if [ "${MODELCTL#*/}" != "$MODELCTL" ]; then      # a path, not a name in PATH
		install -m 0755 "$MODELCTL" "$SCRATCH/modelctl"
		MODELCTL=$SCRATCH/modelctl
	fi
}

# as USER CMD...: run CMD as USER, with USER's groups (setpriv: uid, gid and
# supplementary groups, nothing else). The registry sees that uid and those
# groups, and checks the request against its owners, modes and policies.
# CMD is a program; `as USER mc ARGS...` runs modelctl on this mount.
as() {
	local user=$1
	shift
	[ "$1" != mc ] || set -- "$MODELCTL" -m "$MNT" "${@:2}"
	setpriv --reuid="$user" --regid="$user" --init-groups -- env HOME=/ "$@"
}
