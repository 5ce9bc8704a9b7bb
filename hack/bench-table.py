#!/usr/bin/env python3
"""Render target/bench/results.json (written by `make bench`) as the Markdown tables of docs/benchmarks.md."""
import json
import sys

rows = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "target/bench/results.json"))["rows"]
raw_rows = sorted((r for r in rows if r["workload"] == "raw"), key=lambda r: (r["n"], r.get("transport", "")))
# The ceiling at each N is the better transport's row (older results have one
# row per N and no transport).
raw = {}
for r in raw_rows:
    if r["n"] not in raw or r["jobs_per_s"] > raw[r["n"]]["jobs_per_s"]:
        raw[r["n"]] = r


def v(x, fmt="{:.0f}"):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return fmt.format(x)


def cpu(c):
    if not c:
        return "—"
    return " / ".join(f"{c[k]:.2f}" for k in ("contender", "kube-apiserver", "etcd"))


print("### Raw ceiling (driver, 128 creates in flight)\n")
print("| k8s | N | transport | Jobs seen | all in (ms) | Jobs/s | kube-apiserver CPU (ms/create) | ceiling |")
print("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |")
for r in raw_rows:
    best = "**yes**" if raw[r["n"]] is r else ""
    print(
        f"| {r['k8s_version']} | {r['n']} | {r.get('transport', 'http1')} | {r['jobs_seen']} | {r['all_exist_ms']} | "
        f"{v(r['jobs_per_s'])} | {v(r.get('apiserver_cpu_ms_per_request'), '{:.2f}')} | {best} |"
    )

writes = [r for r in rows if r["workload"] == "writes"]
if writes or raw:
    print("\n### What one request costs the API server (driver, 128 in flight)\n")
    print("| k8s | request | N | requests/s | kube-apiserver CPU (ms/request) | etcd CPU (ms/request) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in raw_rows:
        n = r["n"]
        if r.get("apiserver_cpu_ms_per_request") is not None and n >= 1000:
            print(f"| {r['k8s_version']} | POST jobs (raw, {r.get('transport', 'http1')}) | {n} | {v(r['jobs_per_s'])} | {v(r['apiserver_cpu_ms_per_request'], '{:.2f}')} | {v(r['etcd_cpu_ms_per_request'], '{:.2f}')} |")
    for r in writes:
        print(f"| {r['k8s_version']} | {r['request']} ({r.get('transport', 'http1')}) | {r['n']} | {v(r['requests_per_s'])} | {v(r['apiserver_cpu_ms_per_request'], '{:.2f}')} | {v(r['etcd_cpu_ms_per_request'], '{:.2f}')} |")

print("\n### Schedule latency (`* * * * *`, all N firing at the same minute boundary)\n")
print("| k8s | N | contender | boundaries | Jobs seen / expected | p50 (ms) | p99 (ms) | max (ms) | all in (ms) | burst Jobs/s | of raw | CPU in bursts (s): contender / apiserver / etcd |")
print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for r in rows:
    if r["workload"] != "latency":
        continue
    # One Job is a latency, not a throughput: no fraction of the ceiling at N = 1.
    frac = r.get("fraction_of_raw") if r["n"] > 1 else None
    print(
        f"| {r['k8s_version']} | {r['n']} | {r['contender']} | {r['boundaries']} | {r['jobs_seen']} / {r['jobs_expected']} | "
        f"{r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['all_exist_ms']} | {v(r.get('burst_jobs_per_s'))} | "
        f"{v(frac * 100 if frac is not None else None, '{:.0f} %')} | {cpu(r.get('burst_cpu_s'))} |"
    )

print("\n### Steady state (5000 CronJobs an hour from their slot, 15000 finished Jobs) and start-up\n")
print("| k8s | N | contender | start-up (ms) | RSS peak / end (MiB) | CPU idle (s) | CPU (% of a core) | idle requests (non-watch, batch+events) | watches re-opened | other control-plane requests |")
print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    if r["workload"] == "steady-baseline":
        print(f"| {r['k8s_version']} | {r['n']} | (none: baseline, {r['idle_s']} s) | — | — | — | — | {v(r['idle_requests'])} | {v(r['idle_watch_requests'])} | {v(r['idle_requests_all_resources'])} |")
    elif r["workload"] == "steady":
        print(
            f"| {r['k8s_version']} | {r['n']} | {r['contender']} | {v(r['startup_ms'])} | "
            f"{r['rss_peak_kib'] / 1024:.0f} / {r['rss_end_kib'] / 1024:.0f} | {r['cpu_s']:.2f} | {r['cpu_pct_core']:.2f} | "
            f"{v(r['idle_requests'])} | {v(r['idle_watch_requests'])} | {v(r['idle_requests_all_resources'])} |"
        )

print("\n### Exact commands\n")
seen = set()
for r in rows:
    c = r.get("contender")
    if c and c not in seen:
        seen.add(c)
        print(f"* `{c}`: `{r['command']}`")
