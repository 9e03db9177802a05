#!/usr/bin/env bash
# hack/postgres.sh up|down|url — a throwaway PostgreSQL for the store tests.
#
#   eval "$(hack/postgres.sh up)"   # start (installing PostgreSQL if needed)
#   hack/postgres.sh url            # print the URL of the test database
#   hack/postgres.sh down           # stop this cluster (and only this one)
#
# The cluster lives in <repo>/.cache/postgres, listens on 127.0.0.1 only
# (port SLIPWAY_PG_PORT, default 55432) with fsync on, and trusts local
# connections: it is a test database, never a place for real data.
# Only the export line of `up` goes to stdout; everything else to stderr.
set -euo pipefail

# Keep stdout for the one line callers eval; everything else is chatter.
exec 3>&1 1>&2

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/.." && pwd))
dir="$root/.cache/postgres"
data="$dir/data"
log="$dir/postgres.log"
port="${SLIPWAY_PG_PORT:-55432}"
db=slipway_test
pguser=postgres
url="postgres://$pguser@127.0.0.1:$port/$db?sslmode=disable"

die() { echo "postgres.sh: $*"; exit 1; }

# find_bin sets bin to the newest PostgreSQL server bin directory, if any.
find_bin() {
	bin=""
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
		[[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && bin="$d"
	done
	if [[ -z "$bin" ]] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		bin=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
	fi
}

install_postgres() {
	[[ $EUID -eq 0 ]] || die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
	echo "postgres.sh: installing PostgreSQL with apt"
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq postgresql
}

# as_owner runs a command as the cluster owner: postgres refuses to run as root.
as_owner() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$pguser" -- "$@"
	else
		"$@"
	fi
}

ensure_user() {
	[[ $EUID -eq 0 ]] || return 0
	if ! id "$pguser" >/dev/null 2>&1; then
		echo "postgres.sh: creating system user $pguser"
		useradd --system --user-group --home-dir "$dir" --shell /usr/sbin/nologin "$pguser"
	fi
}

# running reports whether our cluster's postmaster is alive.
running() {
	[[ -f "$data/PG_VERSION" ]] || return 1
	as_owner "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# clear_stale_pid removes a postmaster.pid left by a killed server, when the
# pid in it is dead or belongs to some other program.
clear_stale_pid() {
	local pidfile="$data/postmaster.pid" pid
	[[ -f "$pidfile" ]] || return 0
	pid=$(head -n1 "$pidfile" 2>/dev/null || true)
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
		return 0
	fi
	echo "postgres.sh: removing stale $pidfile (pid ${pid:-?} is not a running postgres)"
	rm -f "$pidfile"
}

init_cluster() {
	mkdir -p "$dir"
	chown "$pguser" "$dir" 2>/dev/null || true
	[[ -f "$data/PG_VERSION" ]] && return 0
	echo "postgres.sh: creating cluster in $data"
	as_owner "$bin/initdb" -D "$data" -U "$pguser" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null \
		|| as_owner "$bin/initdb" -D "$data" -U "$pguser" --auth=trust --encoding=UTF8 --no-locale >/dev/null
	cat >>"$data/postgresql.conf" <<EOF

# Slipway test cluster (hack/postgres.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
EOF
}

start_cluster() {
	clear_stale_pid
	echo "postgres.sh: starting PostgreSQL on 127.0.0.1:$port"
	# The postmaster must not inherit our stdout or stderr: a caller reading
	# them ($(...), a CI log pipe) would wait for it to exit.
	if ! as_owner "$bin/pg_ctl" start -D "$data" -l "$log" -w -t 60 </dev/null >"$dir/pg_ctl.out" 2>&1 3>&-; then
		cat "$dir/pg_ctl.out" || true
		tail -n 20 "$log" || true
		die "PostgreSQL did not start; see $log"
	fi
}

ensure_db() {
	local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U "$pguser")
	if [[ -z "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
		echo "postgres.sh: creating database $db"
		"${psql[@]}" -d postgres -c "CREATE DATABASE $db"
	fi
}

cmd="${1:-}"
case "$cmd" in
up)
	find_bin
	if [[ -z "$bin" ]]; then
		install_postgres
		find_bin
		[[ -n "$bin" ]] || die "initdb not found even after installing postgresql"
	fi
	ensure_user
	init_cluster
	if running; then
		echo "postgres.sh: already running on 127.0.0.1:$port"
	else
		start_cluster
	fi
	ensure_db
	echo "export SLIPWAY_TEST_POSTGRES_URL='$url'" >&3
	;;
down)
	find_bin
	[[ -n "$bin" ]] || die "PostgreSQL is not installed"
	if running; then
		as_owner "$bin/pg_ctl" stop -D "$data" -m fast -w >/dev/null
		echo "postgres.sh: stopped"
	else
		echo "postgres.sh: not running"
	fi
	;;
url)
	echo "$url" >&3
	;;
*)
	die "usage: $0 up|down|url"
	;;
esac
