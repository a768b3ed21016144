#!/usr/bin/env bash
# with-services.sh CMD… — run CMD with PostgreSQL and Redis reachable
# (scripts/services.sh starts private ones where needed) and stop whatever
# was started when CMD ends, whatever its outcome.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$(mktemp "${TMPDIR:-/tmp}/lunas-services-state.XXXXXX")
cleanup() { "$here/services.sh" down "$state"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
"$here/services.sh" up "$state"
# A private PostgreSQL started beside the machine's comes with its URL.
while IFS= read -r line; do
  case $line in LUNAS_DATABASE_URL=*) export "$line" ;; esac
done < "$state"
set +e
"$@"
rc=$?
set -e
exit $rc
