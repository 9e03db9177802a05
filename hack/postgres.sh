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
# The cluster handling is hack/postgres-lib.sh's, shared with the local
# stack's PostgreSQL (e2e/stack/postgres.sh).
set -euo pipefail

# Keep stdout for the one line callers eval; everything else is chatter.
exec 3>&1 1>&2

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$script_dir/postgres-lib.sh"
root=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/.." && pwd))
pg_name=postgres.sh
pg_dir="$root/.cache/postgres"
pg_port="${SLIPWAY_PG_PORT:-55432}"
pg_paths
db=slipway_test
url="postgres://$pg_owner@127.0.0.1:$pg_port/$db?sslmode=disable"

init_cluster() {
	pg_initdb --auth=trust || return 0
	cat >>"$pg_data/postgresql.conf" <<CONF

# Slipway test cluster (hack/postgres.sh)
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$pg_dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
CONF
}

ensure_db() {
	local psql=("$pg_bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U "$pg_owner")
	if [[ -z "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
		echo "postgres.sh: creating database $db"
		"${psql[@]}" -d postgres -c "CREATE DATABASE $db"
	fi
}

cmd="${1:-}"
case "$cmd" in
up)
	pg_ensure_bin
	pg_ensure_user
	init_cluster
	if pg_running; then
		echo "postgres.sh: already running on 127.0.0.1:$pg_port"
	else
		echo "postgres.sh: starting PostgreSQL on 127.0.0.1:$pg_port"
		pg_start
	fi
	ensure_db
	echo "export SLIPWAY_TEST_POSTGRES_URL='$url'" >&3
	;;
down)
	pg_find_bin
	[[ -n "$pg_bin" ]] || pg_die "PostgreSQL is not installed"
	pg_stop
	;;
url)
	echo "$url" >&3
	;;
*)
	pg_die "usage: $0 up|down|url"
	;;
esac
