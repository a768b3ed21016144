#!/usr/bin/env bash
# run-local.sh — lunas for a laptop: the fake gateways and SMTP sink
# (cmd/fakegw) plus `lunas all`, wired together. Called by `make run`.
#
# Every port can be moved (the defaults in brackets):
#   LUNAS_HTTP_ADDR   lunas's API                          [127.0.0.1:8080]
#   FAKEGW_ADDR       fake Midtrans + Xendit               [127.0.0.1:8090]
#   FAKEGW_SMTP_ADDR  SMTP sink lunas mails to             [127.0.0.1:1025]
#   FAKEGW_UI_ADDR    the sink's web UI                    [127.0.0.1:8025]
# e.g. `LUNAS_HTTP_ADDR=127.0.0.1:9080 FAKEGW_ADDR=127.0.0.1:9090 make run`.
# The gateway URLs, SMTP URL, webhook targets and LUNAS_PUBLIC_URL follow.
set -euo pipefail
cd "$(dirname "$0")/.."
export LUNAS_ENV=${LUNAS_ENV:-test}
export LUNAS_HTTP_ADDR=${LUNAS_HTTP_ADDR:-127.0.0.1:8080}
export FAKEGW_ADDR=${FAKEGW_ADDR:-127.0.0.1:8090}
export FAKEGW_SMTP_ADDR=${FAKEGW_SMTP_ADDR:-127.0.0.1:1025}
export FAKEGW_UI_ADDR=${FAKEGW_UI_ADDR:-127.0.0.1:8025}

# lunas as the fakes reach it: a wildcard listen address is reached on loopback.
lunas_host=${LUNAS_HTTP_ADDR%:*}; lunas_port=${LUNAS_HTTP_ADDR##*:}
case "$lunas_host" in ""|0.0.0.0|"[::]") lunas_host=127.0.0.1 ;; esac
lunas_url="http://$lunas_host:$lunas_port"

export MIDTRANS_SERVER_KEY=${MIDTRANS_SERVER_KEY:-SB-Mid-server-FAKE_LOCAL_KEY}
export MIDTRANS_BASE_URL=${MIDTRANS_BASE_URL:-http://$FAKEGW_ADDR}
export XENDIT_SECRET_KEY=${XENDIT_SECRET_KEY:-xnd_development_FAKE_LOCAL_KEY}
export XENDIT_BASE_URL=${XENDIT_BASE_URL:-http://$FAKEGW_ADDR}
export OVO_CALLBACK_TOKEN=${OVO_CALLBACK_TOKEN:-fake-ovo-callback-token}
export LUNAS_SMTP_URL=${LUNAS_SMTP_URL:-smtp://$FAKEGW_SMTP_ADDR}
export LUNAS_WHATSAPP_URL=${LUNAS_WHATSAPP_URL:-http://$FAKEGW_ADDR/whatsapp/send}
export LUNAS_WHATSAPP_TOKEN=${LUNAS_WHATSAPP_TOKEN:-fake-whatsapp-token}
# A local walk moves the test clock and waits for what follows (expiry,
# subscription issuing): sweep every 2 s, not every minute.
export LUNAS_SWEEP_INTERVAL=${LUNAS_SWEEP_INTERVAL:-2s}
export FAKEGW_NOTIFY_MIDTRANS=${FAKEGW_NOTIFY_MIDTRANS:-$lunas_url/webhooks/midtrans}
export LUNAS_WA_APP_SECRET=${LUNAS_WA_APP_SECRET:-dev-meta-app-secret}   # Meta's status webhooks (docs/usage.md, "WhatsApp billing by message")
export LUNAS_WA_VERIFY_TOKEN=${LUNAS_WA_VERIFY_TOKEN:-dev-meta-verify-token}
export FAKEGW_NOTIFY_OVO=${FAKEGW_NOTIFY_OVO:-$lunas_url/webhooks/ovo}

bin/fakegw &
fake=$!
trap 'kill $fake 2>/dev/null || true' EXIT
# fakegw exits at once, naming the port, when one of its ports is taken:
# then stop here rather than start lunas against whoever holds it.
for _ in $(seq 100); do
  if ! kill -0 "$fake" 2>/dev/null; then
    wait "$fake" || exit 1
  fi
  if (exec 3<>"/dev/tcp/${FAKEGW_UI_ADDR%:*}/${FAKEGW_UI_ADDR##*:}") 2>/dev/null; then
    break
  fi
  sleep 0.1
done
echo "run-local: lunas on $lunas_url, fake gateways on http://$FAKEGW_ADDR, mail UI on http://$FAKEGW_UI_ADDR/" >&2
bin/lunas all
