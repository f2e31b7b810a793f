#!/usr/bin/env bash
# Starts an ngrok tunnel to a local port, reads the tunnel's https URL from ngrok's local API,
# and runs `bridgekeeper serve` with BRIDGEKEEPER_PUBLIC_URL set to it, so that webhook
# signatures are checked against the URL Twilio actually calls.
#
#   scripts/ngrok.sh                 # port 5000, server built with cargo (release)
#   PORT=8080 scripts/ngrok.sh       # another port
#   BRIDGEKEEPER_BIN=/path/to/bridgekeeper scripts/ngrok.sh    # a server binary you built
#
# Extra arguments are passed to `bridgekeeper serve` (e.g. --participants my.toml).
# Environment: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_VERIFY_SERVICE_SID for Twilio
# mode (all three, or none for development mode); NGROK_API_URL for ngrok's local API
# (http://127.0.0.1:4040 by default).
set -euo pipefail

port="${PORT:-5000}"
api="${NGROK_API_URL:-http://127.0.0.1:4040}"

if ! command -v ngrok >/dev/null 2>&1; then
    echo "ngrok is not installed: see https://ngrok.com/download, then run" >&2
    echo "  ngrok config add-authtoken <your ngrok token>" >&2
    exit 1
fi
if ! command -v curl >/dev/null 2>&1; then
    echo "curl is needed to read the tunnel's URL from ngrok's local API" >&2
    exit 1
fi

log="$(mktemp -t bridgekeeper-ngrok.XXXXXX)"
ngrok http "$port" --log=stdout >"$log" 2>&1 &
ngrok_pid=$!
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    kill "$ngrok_pid" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

public_url=""
for _ in $(seq 1 100); do
    if ! kill -0 "$ngrok_pid" 2>/dev/null; then
        echo "ngrok exited:" >&2
        cat "$log" >&2
        exit 1
    fi
    tunnels="$(curl -fsS "$api/api/tunnels" 2>/dev/null || true)"
    public_url="$(printf '%s' "$tunnels" | { grep -o '"public_url": *"https://[^"]*"' || true; } |
        head -n 1 | sed 's/.*"\(https:[^"]*\)"/\1/')"
    [ -n "$public_url" ] && break
    sleep 0.2
done
if [ -z "$public_url" ]; then
    echo "no https tunnel appeared at $api/api/tunnels within 20 seconds; ngrok said:" >&2
    cat "$log" >&2
    exit 1
fi

echo "ngrok tunnel: $public_url -> 127.0.0.1:$port"
echo "Point your Twilio number's voice webhook (\"A call comes in\", HTTP POST) at:"
echo "    $public_url/voice"
echo "Other carriers (HTTP POST): SignalWire $public_url/signalwire/voice,"
echo "    Telnyx $public_url/telnyx/voice, CarrierX $public_url/carrierx/voice?key=<BRIDGEKEEPER_CARRIERX_KEY>"
if [ -z "${TWILIO_AUTH_TOKEN:-}${SIGNALWIRE_SIGNING_KEY:-}${TELNYX_PUBLIC_KEY:-}${BRIDGEKEEPER_CARRIERX_KEY:-}" ]; then
    echo "No carrier credential is set: the server runs in development mode (no signature checks, no SMS)."
fi

export BRIDGEKEEPER_PUBLIC_URL="$public_url"
if [ -n "${BRIDGEKEEPER_BIN:-}" ]; then
    "$BRIDGEKEEPER_BIN" serve --listen "127.0.0.1:$port" "$@" &
else
    cd "$(dirname "$0")/.."
    cargo run --release --quiet -- serve --listen "127.0.0.1:$port" "$@" &
fi
server_pid=$!
wait "$server_pid"
