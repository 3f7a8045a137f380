#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the log-server storage tests (CI and developers).
#
#   scripts/pg-test-server.sh run -- CMD ARGS…   start a server, run CMD with DATABASE_URL set, stop it
#   scripts/pg-test-server.sh start               start one and print `export DATABASE_URL=…` lines
#   scripts/pg-test-server.sh stop DIR            stop the server started in DIR and delete DIR
#   source scripts/pg-test-server.sh              define pg_test_install / pg_test_start / pg_test_stop
#                                                 (what .ci/run does; pg_test_start exports
#                                                 DATABASE_URL and PG_TEST_DIR)
#
# The cluster lives in a fresh temporary directory (initdb --no-sync: nothing in it is worth a
# flush), listens on 127.0.0.1 only, on a free port, with a random password for its superuser
# `concord`, and holds one database, `concord`. It is deleted when it stops.
#
# initdb and postgres refuse to run as root. As root the cluster is run as the `postgres` user
# that Debian's package creates (or as `nobody` if there is none), owning the temporary directory;
# as any other user it runs as that user.
#
# PostgreSQL 15 comes from Debian's packages (postgresql-15, binaries in /usr/lib/postgresql/15/bin);
# pg_test_install installs it only when initdb or pg_ctl is missing, and only as root.

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

pg_test_install() {
  if [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" && -x "$PG_BIN/postgres" ]]; then
    return 0
  fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "pg-test-server: $PG_BIN/initdb is missing; install postgresql-15 (as root: apt-get install postgresql-15)" >&2
    return 1
  fi
  echo "pg-test-server: installing postgresql-15 from Debian's packages" >&2
  # No default "main" cluster: the package would otherwise create one (and try to start it on
  # port 5432); the tests use only their own throwaway cluster.
  mkdir -p /etc/postgresql-common
  if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
    echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold postgresql-15 >/dev/null
  [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]]
}

# Runs a PostgreSQL binary as the cluster's owner.
_pg_as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u "$_PG_OWNER" -- "$@"
  else
    "$@"
  fi
}

_pg_free_port() {
  node -e "const s = require('node:net').createServer(); s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); });"
}

pg_test_start() {
  pg_test_install || return 1
  _PG_OWNER="$(id -un)"
  if [[ "$(id -u)" == 0 ]]; then
    if id postgres >/dev/null 2>&1; then _PG_OWNER=postgres; else _PG_OWNER=nobody; fi
  fi
  local dir password
  dir="$(mktemp -d "${TMPDIR:-/tmp}/concord-pg.XXXXXX")" || return 1
  chmod 0700 "$dir"
  if [[ "$(id -u)" == 0 ]]; then chown "$_PG_OWNER" "$dir"; fi
  password="$(node -e "console.log(require('node:crypto').randomBytes(18).toString('hex'))")"
  (umask 077 && printf '%s\n' "$password" >"$dir/pwfile")
  if [[ "$(id -u)" == 0 ]]; then chown "$_PG_OWNER" "$dir/pwfile"; fi

  if ! _pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -U concord --pwfile="$dir/pwfile" \
      --auth=scram-sha-256 -E UTF8 --locale=C --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    return 1
  fi
  rm -f "$dir/pwfile"

  # A port is picked free and then bound by postgres a moment later; retry if someone took it.
  local port attempt
  for attempt in 1 2 3 4 5; do
    port="$(_pg_free_port)"
    if _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir'" \
        start >/dev/null; then
      break
    fi
    port=""
  done
  if [[ -z "$port" ]]; then
    cat "$dir/server.log" >&2 || true
    rm -rf "$dir"
    return 1
  fi

  export PG_TEST_DIR="$dir"
  export PGPASSWORD="$password"
  if ! "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U concord -d postgres -v ON_ERROR_STOP=1 \
      -c 'CREATE DATABASE concord' >/dev/null; then
    unset PGPASSWORD
    pg_test_stop
    return 1
  fi
  unset PGPASSWORD
  export DATABASE_URL="postgres://concord:$password@127.0.0.1:$port/concord"
  echo "pg-test-server: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (cluster in $dir)" >&2
}

# Stops the server started in $1 (default $PG_TEST_DIR) and deletes its directory.
pg_test_stop() {
  local dir="${1:-${PG_TEST_DIR:-}}"
  [[ -n "$dir" && -d "$dir/data" ]] || return 0
  _PG_OWNER="$(stat -c %U "$dir/data")"
  _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  if [[ "${PG_TEST_DIR:-}" == "$dir" ]]; then unset PG_TEST_DIR DATABASE_URL; fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case "${1:-}" in
    run)
      shift
      [[ "${1:-}" == "--" ]] && shift
      [[ $# -gt 0 ]] || { echo "usage: $0 run -- CMD ARGS…" >&2; exit 2; }
      pg_test_start
      trap pg_test_stop EXIT
      "$@"
      ;;
    start)
      pg_test_start
      echo "export DATABASE_URL='$DATABASE_URL'"
      echo "# stop with: $0 stop '$PG_TEST_DIR'"
      ;;
    stop)
      [[ -n "${2:-}" ]] || { echo "usage: $0 stop DIR" >&2; exit 2; }
      pg_test_stop "$2"
      ;;
    *)
      sed -n '2,20p' "$0" >&2
      exit 2
      ;;
  esac
fi
