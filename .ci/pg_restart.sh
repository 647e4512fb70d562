#!/usr/bin/env bash
# Stop the throw-away PostgreSQL started by .ci/postgres.sh, keep it down for a few seconds,
# and start it again: the "database restart" of tests/security/test_load_faults.py
# (exported there as CDS_TEST_PG_RESTART).
set -euo pipefail
: "${CDS_PG_BIN:?}" "${CDS_PG_DATA:?}" "${CDS_PG_PORT:?}"
run=()
if [[ $(id -u) -eq 0 ]]; then
  run=(runuser -u postgres --)
fi
"${run[@]}" "$CDS_PG_BIN/pg_ctl" -D "$CDS_PG_DATA/data" -m fast -w stop >/dev/null
sleep "${CDS_PG_DOWN_SECONDS:-3}"
"${run[@]}" "$CDS_PG_BIN/pg_ctl" -D "$CDS_PG_DATA/data" -w -t 60 -l "$CDS_PG_DATA/server.log" \
  -o "-p $CDS_PG_PORT -k $CDS_PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
