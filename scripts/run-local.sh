#!/usr/bin/env bash
# run-local.sh — lunas for a laptop: the fake gateways and SMTP sink
# (cmd/fakegw) plus `lunas all`, wired together. Called by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
export LUNAS_ENV=${LUNAS_ENV:-test}
export MIDTRANS_SERVER_KEY=${MIDTRANS_SERVER_KEY:-SB-Mid-server-FAKE_LOCAL_KEY}
export MIDTRANS_BASE_URL=${MIDTRANS_BASE_URL:-http://127.0.0.1:8090}
export XENDIT_SECRET_KEY=${XENDIT_SECRET_KEY:-xnd_development_FAKE_LOCAL_KEY}
export XENDIT_BASE_URL=${XENDIT_BASE_URL:-http://127.0.0.1:8090}
export OVO_CALLBACK_TOKEN=${OVO_CALLBACK_TOKEN:-fake-ovo-callback-token}
export LUNAS_SMTP_URL=${LUNAS_SMTP_URL:-smtp://127.0.0.1:1025}
port=${LUNAS_HTTP_ADDR:-127.0.0.1:8080}; port=${port##*:}
bin/fakegw -addr 127.0.0.1:8090 -smtp 127.0.0.1:1025 -ui 127.0.0.1:8025 \
  -notify-midtrans "http://127.0.0.1:$port/webhooks/midtrans" -notify-ovo "http://127.0.0.1:$port/webhooks/ovo" &
fake=$!
trap 'kill $fake 2>/dev/null || true' EXIT
bin/lunas all
