#!/usr/bin/env bash
# One benchmark run on this machine: the server pinned to one core, the load on the other.
# Builds release, generates 10,000 participants, then measures, in ROUNDS rounds (3),
#   (a) POST /voice for known callers (rotating numbers, a new call each: a code is sent)
#       with wrk at 64 connections, logs at info,
#   (a2) the same for callers not on the list (refused before any code),
#   (a3) both again in Twilio mode, every request signed and checked,
#   (b) the same as (a) against a bare axum handler doing the same parsing (examples/floor.rs),
#   (c) full calls per second with `bridgekeeper load` at concurrency 500 against the fake
#       Verify at 100 ms latency (Twilio mode: signed webhooks, real HTTP to Verify),
#   (d) the server's resident memory at idle and with 10,000 calls waiting for their code,
#   (e) full calls per carrier (Twilio, SignalWire, Telnyx, CarrierX), each signed as that
#       carrier signs, against one server holding every carrier's credential,
#   (f) what authenticating one webhook costs per carrier (examples/signatures.rs),
#   (g) full calls through the Telnyx and MessageBird Verify fakes,
# and writes the tables to BENCHMARKS.md (with the machine and the date; the medians and the
# targets come from scripts/bench_summary.py), keeping its hand-written findings.
#
#   scripts/bench.sh                 # everything (about 10 minutes after the build)
#   ROUNDS=1 DURATION=5s CALLS=2000 scripts/bench.sh     # a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${DURATION:-15s}"
rounds="${ROUNDS:-3}"
calls="${CALLS:-10000}"
concurrency="${CONCURRENCY:-500}"
participants_n="${PARTICIPANTS:-10000}"
server_core="${SERVER_CORE:-0}"
load_core="${LOAD_CORE:-1}"
out="${BENCHMARKS_FILE:-BENCHMARKS.md}"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
    echo "== installing wrk"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
need taskset || { echo "taskset (util-linux) is needed" >&2; exit 1; }
need python3 || { echo "python3 is needed for the waiting-calls step" >&2; exit 1; }

echo "== building release"
cargo build --release --quiet --bin bridgekeeper --example floor --example signatures
bin=target/release/bridgekeeper
floor=target/release/examples/floor

work="$(mktemp -d -t bridgekeeper-bench.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url (a server loading 20,000 participants takes a moment)
    for _ in $(seq 1 1200); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing answers at $1" >&2
    return 1
}
wait_port() { # port
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

echo "== generating $participants_n participants"
python3 - "$work/bench.toml" "$participants_n" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write('[[conference]]\nname = "Bench"\nnumbers = ["+12025550100"]\n\n')
    for i in range(n):
        role = "moderator" if i == 0 else "participant"
        f.write(f'[[conference.participant]]\nname = "Caller {i}"\nphone = "+1415{2000000 + i:07d}"\nrole = "{role}"\n\n')
PY
$bin check "$work/bench.toml" | sed -n '1,2p'
# Full calls join rooms, and a room holds at most 250 (`max_participants`, the carriers'
# cap; a full room refuses newcomers): (c) and (g) spread the same people over rooms of 200,
# each on a line of its own.
python3 - "$work/bench-rooms.toml" "$participants_n" <<'PY2'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for room in range((n + 199) // 200):
        f.write(f'[[conference]]\nname = "Bench {room}"\nnumbers = ["+1202555{1000 + room:04d}"]\n\n')
        for i in range(room * 200, min(n, room * 200 + 200)):
            role = "moderator" if i % 200 == 0 else "participant"
            f.write(f'[[conference.participant]]\nname = "Caller {i}"\nphone = "+1415{2000000 + i:07d}"\nrole = "{role}"\n\n')
PY2
# (d) rings twice as many callers: the first half warms the allocator up, the second half
# shows what one more waiting call costs.
python3 - "$work/bench.toml" "$work/bench-double.toml" "$participants_n" <<'PY'
import sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(dst, "w") as f:
    f.write(open(src).read())
    for i in range(n, 2 * n):
        f.write(f'[[conference.participant]]\nname = "Caller {i}"\nphone = "+1415{2000000 + i:07d}"\nrole = "participant"\n\n')
PY

# wrk script: POST /voice with form bodies like Twilio's, a new CallSid per request and the
# caller rotating through the participants.
cat > "$work/voice.lua" <<LUA
local n = $participants_n
local counter = 0
local thread_id = math.random(1, 1000000)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
    counter = counter + 1
    local from = string.format("%%2B1415%07d", 2000000 + (counter % n))
    local sid = string.format("CA%08x%024x", thread_id, counter)
    local body = "CallSid=" .. sid .. "&AccountSid=AC00000000000000000000000000000000&From=" .. from ..
        "&To=%2B12025550100&CallStatus=ringing&Direction=inbound&ApiVersion=2010-04-01&Caller=" .. from ..
        "&Called=%2B12025550100"
    return wrk.format(nil, "/voice", nil, body)
end
LUA

# The same, from callers who are not on the list (refused before any code is sent).
sed 's/2000000 + (counter % n)/3000000 + (counter % n)/' "$work/voice.lua" > "$work/refused.lua"

# Twilio-signed requests, made ahead (wrk's Lua has no HMAC): one table of bodies and their
# X-Twilio-Signature for the URL the server will check, taken in turn.
signed_lua() { # port listed|refused out
    python3 - "$1" "$2" "$3" "$participants_n" <<'PY'
import base64, hashlib, hmac, sys, urllib.parse
port, kind, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
url = f"http://127.0.0.1:{port}/voice"
count = 200000
# The requests go to a data file the script reads at start (a Lua chunk holds at most
# 65,536 constants, so they cannot be written into the script itself).
with open(out + ".data", "w") as data:
    for i in range(count):
        caller = f"+1415{(3000000 if kind == 'refused' else 2000000) + (i % n):07d}"
        params = {"CallSid": f"CA{i:032x}", "AccountSid": "AC" + "0" * 32, "From": caller,
                  "To": "+12025550100", "CallStatus": "ringing", "Direction": "inbound",
                  "ApiVersion": "2010-04-01", "Caller": caller, "Called": "+12025550100"}
        signed = url + "".join(k + params[k] for k in sorted(params))
        sig = base64.b64encode(hmac.new(b"bench-token", signed.encode(), hashlib.sha1).digest()).decode()
        data.write(f"{sig} {urllib.parse.urlencode(params)}\n")
with open(out, "w") as f:
    f.write(f"""local bodies, sigs = {{}}, {{}}
for line in io.lines("{out}.data") do
    local sig, body = line:match("^(%S+) (.*)$")
    sigs[#sigs + 1] = sig
    bodies[#bodies + 1] = body
end
local counter = math.random(1, #bodies)
request = function()
    counter = counter % #bodies + 1
    return wrk.format("POST", "/voice", {{["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = sigs[counter]}}, bodies[counter])
end
""")
PY
}

run_wrk() { # url [script] -> prints wrk output
    taskset -c "$load_core" wrk -t1 -c64 -d"$duration" --latency -s "${2:-$work/voice.lua}" "$1"
}
# Requests/sec and the latency percentiles from wrk's output, in milliseconds.
wrk_rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
wrk_pct() { # file pct
    awk -v p="$2%" '$1 == p {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; printf "%.3f", v}' "$1"
}
wrk_errors() { awk '/Non-2xx|Socket errors/ {print}' "$1" | tr '\n' ' '; }

secret="bench-secret-$(date +%s)-0123456789"
common_flags=(--participants "$work/bench.toml" --secret "$secret" --secret-file "$work/secret"
    --max-codes-per-minute 1000000000 --max-codes-per-number 1000000000
    --max-wrong-per-number 1000000000 --local-sends-per-number 1000000000
    --memory-max-entries 100000000 --max-connections 4096)
# (--max-connections: 500 calls in flight open more than the default 512 connections, and a
# server at its cap closes idle keep-alive connections that a client may be about to reuse.)

# Logs at info, as users run it (RUST_LOG unset means info): every line is written. Each
# round measures every webhook line and the floor back to back, so that a ratio compares runs
# minutes apart at most; the table gives the medians of the rounds.
serve_wrk() { # name lua [env...]: one server, one wrk run, into $work/<name>-r<round>.txt
    local name=$1 lua=$2; shift 2
    local port; port=$(free_port)
    case "$lua" in signed-*) signed_lua "$port" "${lua#signed-}" "$work/$lua.lua" ;; esac
    env "$@" taskset -c "$server_core" $bin serve --listen "127.0.0.1:$port" "${common_flags[@]}" \
        >"$work/serve-$name-r$round.log" 2>&1 &
    local pid=$!; pids+=("$pid")
    wait_http "http://127.0.0.1:$port/healthz"
    run_wrk "http://127.0.0.1:$port" "$work/$lua.lua" | tee "$work/$name-r$round.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds"
    echo "== (a) POST /voice, a code sent (listed caller, new call), dev mode, logs at info"
    serve_wrk a voice
    echo "== (a2) POST /voice, a caller not on the list (refused), dev mode, logs at info"
    serve_wrk a2 refused
    echo "== (a3) Twilio mode, signatures checked, listed callers, logs at info"
    serve_wrk a3-listed signed-listed TWILIO_AUTH_TOKEN=bench-token
    echo "== (a3) Twilio mode, signatures checked, refused callers, logs at info"
    serve_wrk a3-refused signed-refused TWILIO_AUTH_TOKEN=bench-token
    echo "== (b) the floor: bare axum, same parsing, fixed Gather"
    port=$(free_port)
    taskset -c "$server_core" $floor --listen "127.0.0.1:$port" >"$work/floor.log" 2>&1 &
    floor_pid=$!; pids+=("$floor_pid")
    wait_port "$port"
    run_wrk "http://127.0.0.1:$port" "$work/voice.lua" | tee "$work/b-r$round.txt"
    kill "$floor_pid"; wait "$floor_pid" 2>/dev/null || true
done
a_lines=$(wc -l < "$work/serve-a-r1.log")

rooms_flags=("${common_flags[@]}")
rooms_flags[1]="$work/bench-rooms.toml"
echo "== (c) $calls full calls at concurrency $concurrency, Twilio mode against the fake Verify at 100 ms"
fake_port=$(free_port)
taskset -c "$load_core" $bin fake-verify --listen "127.0.0.1:$fake_port" --latency 100ms --code 424242 \
    --no-limits --account-sid AC00000000000000000000000000000000 --auth-token bench-token \
    --service-sid VA00000000000000000000000000000000 >"$work/fake.log" 2>&1 &
fake_pid=$!; pids+=("$fake_pid")
wait_port "$fake_port"
port=$(free_port)
TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 TWILIO_AUTH_TOKEN=bench-token \
TWILIO_VERIFY_SERVICE_SID=VA00000000000000000000000000000000 \
TWILIO_VERIFY_BASE_URL="http://127.0.0.1:$fake_port" RUST_LOG=warn \
    taskset -c "$server_core" $bin serve --listen "127.0.0.1:$port" "${rooms_flags[@]}" \
    >"$work/serve-c.log" 2>&1 &
server_pid=$!; pids+=("$server_pid")
wait_http "http://127.0.0.1:$port/healthz"
taskset -c "$load_core" $bin load --server "http://127.0.0.1:$port" --calls "$calls" \
    --concurrency "$concurrency" --participants "$work/bench-rooms.toml" --auth-token bench-token \
    --code 424242 | tee "$work/c.txt" || true
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true

double_flags=("${common_flags[@]}")
double_flags[1]="$work/bench-double.toml"
echo "== (d) resident memory: idle, then with $participants_n calls waiting for their code"
port=$(free_port)
TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 TWILIO_AUTH_TOKEN=bench-token \
TWILIO_VERIFY_SERVICE_SID=VA00000000000000000000000000000000 \
TWILIO_VERIFY_BASE_URL="http://127.0.0.1:$fake_port" RUST_LOG=warn \
    taskset -c "$server_core" $bin serve --listen "127.0.0.1:$port" "${double_flags[@]}" \
    >"$work/serve-d.log" 2>&1 &
server_pid=$!; pids+=("$server_pid")
wait_http "http://127.0.0.1:$port/healthz"
# Let the allocator return what loading the participants used (its RSS settles in ~2 s).
sleep 4
idle_kib=$(rss_kib "$server_pid")
ring() { python3 - "$port" "$1" "$2" <<'PY'
# Rings every participant once (signed like Twilio) and leaves each call at its prompt.
import base64, hashlib, hmac, http.client, sys, urllib.parse
from concurrent.futures import ThreadPoolExecutor
port, first, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
url = f"http://127.0.0.1:{port}/voice"
def ring(chunk):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    bad = 0
    for i in chunk:
        params = {"CallSid": f"CA{i:032x}", "From": f"+1415{2000000 + i:07d}", "To": "+12025550100",
                  "CallStatus": "ringing", "Direction": "inbound"}
        signed = url + "".join(k + params[k] for k in sorted(params))
        sig = base64.b64encode(hmac.new(b"bench-token", signed.encode(), hashlib.sha1).digest()).decode()
        conn.request("POST", "/voice", urllib.parse.urlencode(params),
                     {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})
        r = conn.getresponse(); body = r.read()
        if r.status != 200 or b"<Gather" not in body: bad += 1
    return bad
chunks = [range(first + k, first + n, 50) for k in range(50)]
with ThreadPoolExecutor(50) as pool:
    bad = sum(pool.map(ring, chunks))
print(f"rang {n} calls, {bad} without a prompt")
PY
}
ring 0 "$participants_n"
sleep 4
half_kib=$(rss_kib "$server_pid")
ring "$participants_n" "$participants_n"
sleep 4
waiting_kib=$(rss_kib "$server_pid")
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true

carrier_calls="${CARRIER_CALLS:-2000}"
echo "== (e) $carrier_calls full calls per carrier, signed, fake Verify at 100 ms, concurrency $concurrency"
# A Bridge conference for CarrierX (FlexML joins bridges only), same people.
sed 's/^numbers = \["+12025550100"\]$/&\n[conference.bridge]\nnumber = "+18885550100"\nmoderator_digits = "ww123456#"\nparticipant_digits = "ww123456#"/' \
    "$work/bench.toml" > "$work/bench-bridge.toml"
telnyx_seed="BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="   # 32 bytes of 7: a throwaway test key
telnyx_public="6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw="
carrier_flags=("${common_flags[@]}")
carrier_flags[1]="$work/bench-bridge.toml"
port=$(free_port)
TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 TWILIO_AUTH_TOKEN=bench-token \
TWILIO_VERIFY_SERVICE_SID=VA00000000000000000000000000000000 \
TWILIO_VERIFY_BASE_URL="http://127.0.0.1:$fake_port" SIGNALWIRE_SIGNING_KEY=bench-signing-key \
TELNYX_PUBLIC_KEY="$telnyx_public" BRIDGEKEEPER_CARRIERX_KEY=bench-carrierx-key RUST_LOG=warn \
    taskset -c "$server_core" $bin serve --listen "127.0.0.1:$port" "${carrier_flags[@]}" \
    >"$work/serve-e.log" 2>&1 &
server_pid=$!; pids+=("$server_pid")
wait_http "http://127.0.0.1:$port/healthz"
for carrier in twilio signalwire telnyx carrierx; do
    taskset -c "$load_core" $bin load --server "http://127.0.0.1:$port" --calls "$carrier_calls" \
        --concurrency "$concurrency" --participants "$work/bench-bridge.toml" --code 424242 \
        --carrier "$carrier" --auth-token bench-token --signing-key bench-signing-key \
        --telnyx-private-key "$telnyx_seed" --carrierx-key bench-carrierx-key \
        | tee "$work/e-$carrier.txt" || true
done
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
kill "$fake_pid" 2>/dev/null || true

provider_calls="${PROVIDER_CALLS:-2000}"
echo "== (g) $provider_calls full calls per Verify provider, its fake at 100 ms, concurrency $concurrency"
for provider in telnyx messagebird; do
    fake_port=$(free_port)
    taskset -c "$load_core" $bin fake-verify --provider "$provider" --listen "127.0.0.1:$fake_port" \
        --latency 100ms --code 424242 --no-limits --quiet >"$work/fake-$provider.log" 2>&1 &
    fake_pid=$!; pids+=("$fake_pid")
    wait_port "$fake_port"
    # The fake's first line names the environment the server needs.
    provider_env=$(head -1 "$work/fake-$provider.log" | sed 's/.*give the server: //')
    port=$(free_port)
    env $provider_env RUST_LOG=warn \
        taskset -c "$server_core" $bin serve --listen "127.0.0.1:$port" "${rooms_flags[@]}" \
        >"$work/serve-g-$provider.log" 2>&1 &
    server_pid=$!; pids+=("$server_pid")
    wait_http "http://127.0.0.1:$port/healthz"
    taskset -c "$load_core" $bin load --server "http://127.0.0.1:$port" --calls "$provider_calls" \
        --concurrency "$concurrency" --participants "$work/bench-rooms.toml" --code 424242 \
        | tee "$work/g-$provider.txt" || true
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
    kill "$fake_pid"; wait "$fake_pid" 2>/dev/null || true
done

echo "== (f) authenticating one webhook, per carrier"
taskset -c "$server_core" target/release/examples/signatures | tee "$work/f.txt"

# ---- the table ----
per_call=$(python3 -c "print(f'{($waiting_kib-$half_kib)*1024/$participants_n:.0f}')")
c_line() { grep -E "^$1" "$work/c.txt" | head -1; }
cpu="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
mem="$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
{
    echo "# Benchmarks"
    echo
    echo "Produced by \`scripts/bench.sh\` on $(date -u +%Y-%m-%d) — $(nproc) cores ($cpu), $mem,"
    echo "$(uname -sr); server pinned to core $server_core, load (wrk, \`bridgekeeper load\`, the fake"
    echo "Verify) to core $load_core; release build; logs at \`info\` for (a), \`RUST_LOG=warn\` for (c)–(e)."
    echo "(a)–(b): $rounds rounds of $duration wrk runs at 64 connections, each round running every line and"
    echo "the floor back to back; medians of the rounds, each ratio against its own round's floor."
    echo
    python3 scripts/bench_summary.py "$work" "$rounds" "$a_lines" "$work/c.txt" "$per_call" "$calls"
    echo
    echo "### Everything else"
    echo
    echo "| measure | result | target |"
    echo "|---|---|---|"
    echo "| (c) full calls, Twilio mode, fake Verify 100 ms, concurrency $concurrency | $(c_line 'calls/s' || true) — $(c_line 'errors' || true) | $calls calls, 0 errors |"
    for carrier in twilio signalwire telnyx carrierx; do
        e="$work/e-$carrier.txt"
        echo "| (e) $carrier: full signed calls, fake Verify 100 ms, concurrency $concurrency | $(grep -E '^calls/s' "$e" | head -1) — $(grep -E '^errors' "$e" | head -1); incoming webhook $(awk '$1 == "incoming" {print "p50 " $3 " ms, p99 " $5 " ms"}' "$e") | $carrier_calls calls, 0 errors |"
    done
    for provider in telnyx messagebird; do
        g="$work/g-$provider.txt"
        echo "| (g) $provider Verify: full calls, its fake at 100 ms, concurrency $concurrency | $(grep -E '^calls/s' "$g" | head -1) — $(grep -E '^errors' "$g" | head -1) | $provider_calls calls, 0 errors |"
    done
    echo "| (f) authenticating one webhook | $(awk '{printf "%s %s µs; ", $1, $2}' "$work/f.txt") | |"
    echo "| (d) resident memory: idle / $participants_n calls waiting / $((2 * participants_n)) calls waiting | $idle_kib KiB / $half_kib KiB / $waiting_kib KiB: $per_call bytes per additional waiting call | < 1 KiB per call |"
    echo
    echo "## Raw output"
    echo
    for part in a-r1 a2-r1 a3-listed-r1 a3-refused-r1 b-r1 c e-twilio e-signalwire e-telnyx e-carrierx g-telnyx g-messagebird f; do
        echo "### ($part)"; echo; echo '```text'; cat "$work/$part.txt"; echo '```'; echo
    done
} > "$work/table.md"
if [ -f "$out" ] && grep -q '^## Findings' "$out"; then
    # Keep the hand-written findings below a new table.
    { cat "$work/table.md"; sed -n '/^## Findings/,$p' "$out"; } > "$work/merged.md"
    mv "$work/merged.md" "$out"
else
    mv "$work/table.md" "$out"
fi
echo
sed -n '1,/^## Raw output/p' "$out" | head -n -1
