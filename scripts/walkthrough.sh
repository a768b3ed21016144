#!/usr/bin/env bash
# walkthrough.sh — run the README's walkthrough, exactly as written, against
# a fresh `make run` stack, and fail when any command in it fails. CI calls
# it through `make walkthrough`, so the README cannot rot.
#
# The blocks run are the ```sh blocks that follow a `<!-- walkthrough -->`
# line in README.md, in order, in one bash (`set -euo pipefail`), so a
# variable one block sets (ORDER, ATTEMPT) is there for the next.
#
# The stack gets its own ports, database and Redis database so it never
# meets a developer's `make run` (override with the variables below).
set -euo pipefail
cd "$(dirname "$0")/.."
export LUNAS_HTTP_ADDR=${WALK_HTTP_ADDR:-127.0.0.1:18080}
export FAKEGW_ADDR=${WALK_FAKEGW_ADDR:-127.0.0.1:18090}
export FAKEGW_SMTP_ADDR=${WALK_SMTP_ADDR:-127.0.0.1:18025}
export FAKEGW_UI_ADDR=${WALK_UI_ADDR:-127.0.0.1:18026}
base=${LUNAS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/lunas?sslmode=disable}
db="lunas_walkthrough_$$"
export LUNAS_DATABASE_URL="${base%/*}/$db?${base#*\?}"
redis=${LUNAS_REDIS_URL:-redis://127.0.0.1:6379/0}
export LUNAS_REDIS_URL="${redis%/*}/15"   # 0: make run, 1–12: tests, 13: loadgen, 14: usagebench, 15: subbench and this script (never at once)
command -v jq >/dev/null || { echo "walkthrough: jq is needed (apt-get install jq)"; exit 1; }
command -v openssl >/dev/null || { echo "walkthrough: openssl is needed to sign the WhatsApp status webhook"; exit 1; }

blocks=$(awk '/^<!-- walkthrough -->$/ {want=1; next}
  want && /^```sh$/ {inblock=1; next}
  inblock && /^```$/ {inblock=0; want=0; print ""; next}
  inblock {print}' README.md)
[ -n "$blocks" ] || { echo "walkthrough: no <!-- walkthrough --> block in README.md"; exit 1; }

log=$(mktemp -t lunas-walkthrough.XXXXXX)
# Redis database 15 is this script's: forget the deployment that used it last.
redis-cli -u "$LUNAS_REDIS_URL" DEL lunas:deployment >/dev/null 2>&1 || true
setsid ./scripts/run-local.sh >"$log" 2>&1 &
stack=$!
stop() {
  kill -- -"$stack" 2>/dev/null || true
  wait "$stack" 2>/dev/null || true
  if command -v psql >/dev/null; then
    psql "${base%/*}/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap stop EXIT
for i in $(seq 150); do
  curl -fsS "http://$LUNAS_HTTP_ADDR/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$stack" 2>/dev/null || [ "$i" = 150 ]; then
    echo "walkthrough: the stack did not come up; its log:"; tail -40 "$log"; exit 1
  fi
  sleep 0.2
done
echo "walkthrough: stack up on http://$LUNAS_HTTP_ADDR (database $db); running the README's blocks" >&2
cd "$(mktemp -d)"   # proforma.pdf and friends land in a scratch directory
ln -s "$OLDPWD/bin" bin
export API="http://$LUNAS_HTTP_ADDR" GW="http://$FAKEGW_ADDR"
if ! bash -euo pipefail -x -c "$blocks"; then
  echo "walkthrough: FAILED; the stack's log:"; tail -60 "$log"; exit 1
fi
echo "walkthrough: every README command ran"
