#!/bin/bash
# tests/pg.sh - a throwaway PostgreSQL cluster for tests, in a directory the
# caller made
#
#   tests/pg.sh start DIR            initialise (once) and start; print its URI
#   tests/pg.sh stop DIR [MODE]      pg_ctl stop -m MODE (fast; or immediate)
#   tests/pg.sh restart DIR          start it again, on the same port
#   tests/pg.sh createdb DIR NAME    create database NAME; print its URI
#   tests/pg.sh dropdb DIR NAME      drop database NAME (its sessions ended)
#   tests/pg.sh sql DIR NAME SQL     run SQL in database NAME (psql -c); rows
#                                    print unaligned, fields split by '|'
#   tests/pg.sh pause DIR            SIGSTOP the server (a host that hangs)
#   tests/pg.sh resume DIR           SIGCONT it
#
# DIR is made by the caller (mktemp -d). Under it: data/ (the cluster), sock/
# (its unix socket: it listens on nothing else), port, log, lock. The server runs
# as the unprivileged postgres OS user when we are root (initdb refuses
# root), so DIR itself is opened for traversal and its pieces are chowned;
# nothing depends on where the checkout is. A role named root is made a
# superuser, so root's processes connect without a password. Local
# connections are trusted; fsync stays on (durability tests need it), only
# initdb's own writes skip it.
#
# The port only names the socket (DIR/sock/.s.PGSQL.PORT), but it is chosen
# at random from a free range all the same, so two clusters never share one
# even if someone points them at one socket directory.
set -euo pipefail

die() { echo "pg.sh: $*" >&2; exit 1; }

bindir() {
	local d
	for d in /usr/lib/postgresql/15/bin "$(pg_config --bindir 2>/dev/null || true)" \
		$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
	done
	return 1
}

[ $# -ge 2 ] || die "usage: pg.sh start|stop|restart|createdb|dropdb|sql|pause|resume DIR [...]"
cmd=$1
[ -d "$2" ] || die "'$2' is not a directory (make it first: mktemp -d)"
DIR=$(cd "$2" && pwd)
BIN=$(bindir) || die "no PostgreSQL server binaries (apt-get install postgresql)"
SOCK=$DIR/sock
DATA=$DIR/data

# One command at a time per cluster: a stop (a test's guardian, say) waits
# for a start still under way instead of missing the server it starts.
exec 9>>"$DIR/lock"
flock 9

# Run as the server's owner: postgres when we are root, else ourselves.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

uri() {	# uri DBNAME
	local port
	port=$(cat "$DIR/port")
	case $SOCK in
	*[!A-Za-z0-9/._-]*) echo "host='$SOCK' port=$port dbname='$1'" ;;
	*) echo "postgresql:///$1?host=$SOCK&port=$port" ;;
	esac
}

psql_() {	# psql_ DBNAME ARGS...: as the superuser who owns the cluster
	local db=$1
	shift
	as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$(cat "$DIR/port")" -d "$db" "$@"
}

running() {
	as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

init() {
	local owner=postgres
	[ "$(id -u)" -eq 0 ] || owner=$(id -un)
	# The caller's DIR is 0700 from mktemp: the server only needs to pass
	# through it to its own data/ and sock/.
	chmod 0711 "$DIR"
	mkdir -p "$DATA" "$SOCK"
	chmod 0700 "$DATA"
	chmod 0755 "$SOCK"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$DATA" "$SOCK"
		touch "$DIR/log"
		chown postgres: "$DIR/log"
		runuser -u postgres -- test -x "$DIR" ||
			die "the postgres user cannot enter '$DIR': make DIR where it can (mktemp -d under /tmp)"
	fi
	as_owner "$BIN/initdb" -D "$DATA" --no-sync -A trust -U "$owner" -E UTF8 \
		--locale=C >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
	cat >>"$DATA/postgresql.conf" <<EOF

# tests/pg.sh
listen_addresses = ''
unix_socket_directories = '$SOCK'
fsync = on
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
log_line_prefix = '%m [%p] '
EOF
}

start() {
	local tries=0 port
	while :; do
		if [ -f "$DIR/port" ]; then
			port=$(cat "$DIR/port")
		else
			port=$((5432 + 1 + RANDOM % 20000))
			# A socket already there: someone has that port.
			[ -e "$SOCK/.s.PGSQL.$port" ] && continue
		fi
		# 9>&-: the server must not hold the lock for its life.
		if as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/log" -w -t 60 -o "-p $port" start \
			>/dev/null 9>&-; then
			echo "$port" >"$DIR/port"
			return 0
		fi
		# A port chosen here may have been taken meanwhile: try another
		# (never for restart: the port is the cluster's address).
		tries=$((tries + 1))
		if [ -f "$DIR/port" ] || [ $tries -ge 5 ]; then
			tail -n 20 "$DIR/log" >&2 || true
			die "could not start the server in '$DATA'"
		fi
	done
}

case $cmd in
start)
	[ -f "$DATA/PG_VERSION" ] || init
	running || start
	if [ ! -f "$DIR/roles-made" ] && [ "$(id -u)" -eq 0 ]; then
		psql_ postgres -c "CREATE ROLE root SUPERUSER LOGIN"
	fi
	touch "$DIR/roles-made"
	uri postgres
	;;
stop)
	mode=${3:-fast}
	case $mode in fast | immediate | smart) ;; *) die "stop mode '$mode': fast, immediate or smart" ;; esac
	[ -f "$DATA/PG_VERSION" ] || exit 0
	if running; then
		as_owner "$BIN/pg_ctl" -D "$DATA" -m "$mode" -w -t 60 stop >/dev/null
	fi
	;;
restart)
	[ -f "$DIR/port" ] || die "no cluster in '$DIR' (pg.sh start first)"
	if running; then
		as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
	fi
	start
	;;
createdb)
	[ $# -eq 3 ] || die "usage: pg.sh createdb DIR NAME"
	psql_ postgres -c "CREATE DATABASE \"$3\""
	uri "$3"
	;;
dropdb)
	[ $# -eq 3 ] || die "usage: pg.sh dropdb DIR NAME"
	psql_ postgres -c "DROP DATABASE IF EXISTS \"$3\" WITH (FORCE)"
	;;
sql)
	[ $# -eq 4 ] || die "usage: pg.sh sql DIR NAME SQL"
	psql_ "$3" -At -F '|' -c "$4"
	;;
pause | resume)
	sig=STOP
	[ "$cmd" = resume ] && sig=CONT
	pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null) || die "no server running in '$DATA'"
	# The postmaster and every backend and helper it forked.
	kill -"$sig" "$pid" $(pgrep -P "$pid" || true)
	;;
*)
	die "unknown command '$cmd'"
	;;
esac
