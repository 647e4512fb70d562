# shellcheck shell=bash
# Start a throw-away PostgreSQL (15 on Debian bookworm) on a free loopback port for the
# `postgres`-marked tests, and export CDS_TEST_POSTGRES_URL. Sourced by .ci/run.
#
# It never touches the system cluster: a fresh data directory is created with initdb under
# /tmp, owned by the `postgres` user when we run as root (the server refuses to run as root),
# listening on 127.0.0.1 only, and removed again by cds_stop_postgres.

CDS_PG_DATA=""
CDS_PG_BIN=""
CDS_PG_USER_CMD=()

cds_find_pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then
    CDS_PG_BIN="$dir"
    return 0
  fi
  return 1
}

cds_start_postgres() {
  if [[ -n "${CDS_TEST_POSTGRES_URL:-}" ]]; then
    echo "postgres: using CDS_TEST_POSTGRES_URL from the environment"
    return 0
  fi
  if ! cds_find_pg_bin; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "postgres: installing the Debian postgresql package"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    cds_find_pg_bin || { echo "postgres: no PostgreSQL binaries found"; return 1; }
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  CDS_PG_DATA=$(mktemp -d /tmp/cds-ci-pg.XXXXXX)
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$CDS_PG_DATA"
    CDS_PG_USER_CMD=(runuser -u postgres --)
  else
    CDS_PG_USER_CMD=()
  fi
  "${CDS_PG_USER_CMD[@]}" "$CDS_PG_BIN/initdb" -D "$CDS_PG_DATA/data" -U cds -A trust \
    --no-sync -E UTF8 >"$CDS_PG_DATA/initdb.log" 2>&1 || {
    cat "$CDS_PG_DATA/initdb.log"
    return 1
  }
  "${CDS_PG_USER_CMD[@]}" "$CDS_PG_BIN/pg_ctl" -D "$CDS_PG_DATA/data" -w -t 60 \
    -l "$CDS_PG_DATA/server.log" \
    -o "-p $port -k $CDS_PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null || {
    cat "$CDS_PG_DATA/server.log"
    return 1
  }
  "${CDS_PG_USER_CMD[@]}" "$CDS_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U cds cds_test
  export CDS_TEST_POSTGRES_URL="postgresql+psycopg://cds@127.0.0.1:$port/cds_test"
  # How tests/security/test_load_faults.py restarts this server mid-run.
  export CDS_PG_BIN CDS_PG_DATA CDS_PG_PORT="$port"
  export CDS_TEST_PG_RESTART="bash $(dirname "${BASH_SOURCE[0]}")/pg_restart.sh"
  echo "postgres: started on 127.0.0.1:$port ($("$CDS_PG_BIN/postgres" --version))"
}

cds_stop_postgres() {
  if [[ -n "$CDS_PG_DATA" && -d "$CDS_PG_DATA/data" ]]; then
    "${CDS_PG_USER_CMD[@]}" "$CDS_PG_BIN/pg_ctl" -D "$CDS_PG_DATA/data" -m fast -w stop \
      >/dev/null 2>&1 || true
    rm -rf "$CDS_PG_DATA"
  fi
}
