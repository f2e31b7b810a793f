#!/usr/bin/env python3
"""The webhook rows and the targets table of BENCHMARKS.md, from the wrk outputs of
scripts/bench.sh's rounds: medians over the rounds, each ratio taken against the floor run
of its own round.

    bench_summary.py WORKDIR ROUNDS A_LINES C_FILE PER_CALL_BYTES CALLS
"""
import re
import statistics
import sys

work, rounds, a_lines, c_file, per_call, calls = sys.argv[1:7]
rounds = int(rounds)


def read(name, r):
    with open(f"{work}/{name}-r{r}.txt") as f:
        return f.read()


def rps(text):
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def pct(text, p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v


def errors(text):
    return sum(
        int(n)
        for line in text.splitlines()
        if "Non-2xx" in line or "Socket errors" in line
        for n in re.findall(r"\d+", line)
    )


def stats(name):
    runs = [read(name, r) for r in range(1, rounds + 1)]
    floors = [rps(read("b", r)) for r in range(1, rounds + 1)]
    return {
        "rps": statistics.median(rps(t) for t in runs),
        "all": [rps(t) for t in runs],
        "ratio": statistics.median(rps(t) / f for t, f in zip(runs, floors) if f),
        "ratios": [rps(t) / f for t, f in zip(runs, floors) if f],
        "p50": statistics.median(pct(t, 50) for t in runs),
        "p99": statistics.median(pct(t, 99) for t in runs),
        "errors": sum(errors(t) for t in runs),
    }


a, a2, a3l, a3r, b = (stats(n) for n in ("a", "a2", "a3-listed", "a3-refused", "b"))


def runs_text(s):
    return ", ".join(f"{x:,.0f}" for x in s["all"])


def row(label, s, target):
    ratios = ", ".join(f"{x:.2f}" for x in s["ratios"])
    errs = f"; **{s['errors']} errors**" if s["errors"] else ""
    return (
        f"| {label} | {s['rps']:,.0f} req/s (rounds: {runs_text(s)}); **{s['ratio']:.2f}× the floor** "
        f"(rounds: {ratios}); p50 {s['p50']:.2f} ms, p99 {s['p99']:.2f} ms{errs} | {target} |"
    )


def cost_us(signed, plain):
    """What the signature adds per request, in µs of the server's core."""
    return 1e6 / signed["rps"] - 1e6 / plain["rps"]


c_text = open(c_file).read()
c_calls = re.search(r"^joined\s+(\d+) of (\d+)", c_text, re.M)
c_errors = re.search(r"^errors\s+(\d+)", c_text, re.M)
c_ok = bool(c_calls and c_errors and c_calls.group(1) == calls and c_errors.group(1) == "0")


def met(ok):
    return "met" if ok else "**missed**"


print("| measure | result | target |")
print("|---|---|---|")
print(row(f"(a) `POST /voice`, listed caller, new call (a code sent), dev mode, logs at info ({a_lines} log lines in round 1)", a, "≥ 0.7×, p99 < 2 ms"))
print(row("(a2) `POST /voice`, caller not on the list (refused), dev mode, logs at info", a2, "≥ 0.8×, p99 < 2 ms"))
print(row("(a3) as (a), Twilio mode: X-Twilio-Signature checked", a3l, "report"))
print(row("(a3) as (a2), Twilio mode: X-Twilio-Signature checked", a3r, "report"))
print(
    f"| (b) floor: bare axum, same parsing, fixed Gather | {b['rps']:,.0f} req/s (rounds: {runs_text(b)}); "
    f"p50 {b['p50']:.2f} ms, p99 {b['p99']:.2f} ms | |"
)
print()
print("### Targets")
print()
print("| target | measured (medians of the rounds) | |")
print("|---|---|---|")
print(f"| refused caller ≥ 0.8× the floor | {a2['ratio']:.2f}× | {met(a2['ratio'] >= 0.8)} |")
print(f"| code sent ≥ 0.7× the floor | {a['ratio']:.2f}× | {met(a['ratio'] >= 0.7)} |")
print(f"| p99 < 2 ms at 64 connections, refused | {a2['p99']:.2f} ms | {met(a2['p99'] < 2)} |")
print(f"| p99 < 2 ms at 64 connections, code sent | {a['p99']:.2f} ms | {met(a['p99'] < 2)} |")
print(
    f"| Twilio mode, signatures checked (report) | refused {a3r['ratio']:.2f}×, code sent {a3l['ratio']:.2f}×; "
    f"the signature adds {cost_us(a3r, a2):.1f} µs (refused) and {cost_us(a3l, a):.1f} µs (code sent) per request | |"
)
print(
    f"| 10,000 full calls, fake Verify at 100 ms, 0 errors | "
    f"{c_calls.group(1) if c_calls else '?'} of {calls} joined, {c_errors.group(1) if c_errors else '?'} errors | {met(c_ok)} |"
)
print(f"| server memory per waiting call ≤ 512 bytes | {per_call} bytes | {met(int(per_call) <= 512)} |")
