# postgres-lib.sh - a PostgreSQL cluster of Debian's postgresql package in a
# directory of its own, started and stopped through its postmaster.pid.
# Sourced (not run) by hack/postgres.sh (the store tests' throwaway cluster)
# and e2e/stack/postgres.sh (the local stack's, for the HA deployment).
# shellcheck shell=bash
#
# The caller sets, before calling anything:
#   pg_name   how messages name the caller (postgres.sh)
#   pg_dir    the cluster's home: its data dir, log and Unix socket live here
#   pg_port   the port it listens on
# and gets:
#   pg_data, pg_log   derived from pg_dir
#   pg_owner          the OS user (and superuser) owning the cluster: postgres
#   pg_bin            set by pg_find_bin / pg_ensure_bin
# Messages go to stderr.

pg_owner=postgres

pg_die() { echo "$pg_name: $*" >&2; exit 1; }
pg_log() { echo "$pg_name: $*" >&2; }

# pg_paths derives the paths under pg_dir (call after setting it).
pg_paths() {
	pg_data=$pg_dir/data
	pg_log=$pg_dir/postgres.log
}

# pg_find_bin sets pg_bin to the newest PostgreSQL server bin directory, if any.
pg_find_bin() {
	pg_bin=""
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
		[[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && pg_bin="$d"
	done
	if [[ -z "$pg_bin" ]] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		pg_bin=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
	fi
}

pg_install() {
	[[ $EUID -eq 0 ]] || pg_die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
	pg_log "installing PostgreSQL with apt"
	apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq postgresql >&2
}

# pg_ensure_bin finds the server binaries, installing Debian's package first
# when there are none.
pg_ensure_bin() {
	pg_find_bin
	if [[ -z "$pg_bin" ]]; then
		pg_install
		pg_find_bin
		[[ -n "$pg_bin" ]] || pg_die "initdb not found even after installing postgresql"
	fi
}

# pg_as_owner runs a command as the cluster owner: postgres refuses to run as root.
pg_as_owner() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$pg_owner" -- "$@"
	else
		"$@"
	fi
}

pg_ensure_user() {
	[[ $EUID -eq 0 ]] || return 0
	if ! id "$pg_owner" >/dev/null 2>&1; then
		pg_log "creating system user $pg_owner"
		useradd --system --user-group --home-dir "$pg_dir" --shell /usr/sbin/nologin "$pg_owner"
	fi
}

# pg_running reports whether this cluster's postmaster is alive.
pg_running() {
	[[ -f "$pg_data/PG_VERSION" ]] || return 1
	pg_as_owner "$pg_bin/pg_ctl" status -D "$pg_data" >/dev/null 2>&1
}

# pg_pid prints the postmaster's PID from its postmaster.pid.
pg_pid() {
	head -n1 "$pg_data/postmaster.pid" 2>/dev/null
}

# pg_clear_stale_pid removes a postmaster.pid left by a killed server, when
# the pid in it is dead or belongs to some other program.
pg_clear_stale_pid() {
	local pidfile="$pg_data/postmaster.pid" pid
	[[ -f "$pidfile" ]] || return 0
	pid=$(head -n1 "$pidfile" 2>/dev/null || true)
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
		return 0
	fi
	pg_log "removing stale $pidfile (pid ${pid:-?} is not a running postgres)"
	rm -f "$pidfile"
}

# pg_initdb AUTH_ARGS... creates the cluster once, with initdb's
# authentication arguments (--auth=trust, or --auth-local/--auth-host):
# 0 when it created it (the caller then appends its settings to
# $pg_data/postgresql.conf), 1 when it existed; a failure is fatal.
pg_initdb() {
	mkdir -p "$pg_dir"
	chown "$pg_owner" "$pg_dir" 2>/dev/null || true
	[[ -f "$pg_data/PG_VERSION" ]] && return 1
	pg_log "creating cluster in $pg_data"
	pg_as_owner "$pg_bin/initdb" -D "$pg_data" -U "$pg_owner" "$@" --encoding=UTF8 --locale=C.UTF-8 >/dev/null \
		|| pg_as_owner "$pg_bin/initdb" -D "$pg_data" -U "$pg_owner" "$@" --encoding=UTF8 --no-locale >/dev/null \
		|| pg_die "initdb failed in $pg_data"
}

# pg_start starts the postmaster (pg_ctl start, waiting until it accepts
# connections).
pg_start() {
	pg_clear_stale_pid
	# The postmaster must not inherit our stdout or stderr (nor fd 3): a
	# caller reading them ($(...), a CI log pipe) would wait for it to exit.
	if ! pg_as_owner "$pg_bin/pg_ctl" start -D "$pg_data" -l "$pg_log" -w -t 60 </dev/null >"$pg_dir/pg_ctl.out" 2>&1 3>&-; then
		cat "$pg_dir/pg_ctl.out" >&2 || true
		tail -n 20 "$pg_log" >&2 || true
		pg_die "PostgreSQL did not start; see $pg_log"
	fi
}

# pg_stop stops the postmaster its postmaster.pid names, in fast mode:
# clients are disconnected and open transactions rolled back, as a crash
# would look to them, but the data is checkpointed.
pg_stop() {
	if pg_running; then
		pg_as_owner "$pg_bin/pg_ctl" stop -D "$pg_data" -m fast -w -t 60 >/dev/null
		pg_log "stopped"
	else
		pg_log "not running"
	fi
}

# pg_psql ARGS... runs psql as the owner over the cluster's Unix socket.
pg_psql() {
	pg_as_owner "$pg_bin/psql" -X -q -h "$pg_dir" -p "$pg_port" -U "$pg_owner" "$@"
}
