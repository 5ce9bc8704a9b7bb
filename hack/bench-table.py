#!/usr/bin/env python3
"""Render target/bench/results.json (written by `make bench`) as the Markdown tables of docs/benchmarks.md.

    hack/bench-table.py [RESULTS.json] [--bursts]

--bursts adds one row per burst (round, position in the round's order).
Results from before the rounds (docs/bench/results-2026-12-01.json and older)
are rendered in their own layout.
"""
import json
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
show_bursts = "--bursts" in sys.argv
data = json.load(open(args[0] if args else "target/bench/results.json"))
rows = data["rows"]


def v(x, fmt="{:.0f}"):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return fmt.format(x)


def spread(s, fmt="{:.0f}"):
    """median [min–max] of a {median, min, max, values} object."""
    if not s:
        return "—"
    if len(s.get("values", [])) <= 1 or s["min"] == s["max"]:
        return v(s["median"], fmt)
    return f"{v(s['median'], fmt)} [{v(s['min'], fmt)}–{v(s['max'], fmt)}]"


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def legacy(rows):
    """The single-burst layout of the runs up to 2026-12-01."""
    raw_rows = sorted((r for r in rows if r["workload"] == "raw"), key=lambda r: (r["n"], r.get("transport", "")))
    raw = {}
    for r in raw_rows:
        if r["n"] not in raw or r["jobs_per_s"] > raw[r["n"]]["jobs_per_s"]:
            raw[r["n"]] = r

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
            if r.get("apiserver_cpu_ms_per_request") is not None and r["n"] >= 1000:
                print(f"| {r['k8s_version']} | POST jobs (raw, {r.get('transport', 'http1')}) | {r['n']} | {v(r['jobs_per_s'])} | {v(r['apiserver_cpu_ms_per_request'], '{:.2f}')} | {v(r['etcd_cpu_ms_per_request'], '{:.2f}')} |")
        for r in writes:
            print(f"| {r['k8s_version']} | {r['request']} ({r.get('transport', 'http1')}) | {r['n']} | {v(r['requests_per_s'])} | {v(r['apiserver_cpu_ms_per_request'], '{:.2f}')} | {v(r['etcd_cpu_ms_per_request'], '{:.2f}')} |")
    print("\n### Schedule latency (`* * * * *`, all N firing at the same minute boundary)\n")
    print("| k8s | N | contender | boundaries | Jobs seen / expected | p50 (ms) | p99 (ms) | max (ms) | all in (ms) | burst Jobs/s | of raw | CPU in bursts (s): contender / apiserver / etcd |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        if r["workload"] != "latency":
            continue
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


def commands(rows):
    print("\n### Exact commands\n")
    seen = set()
    for r in rows:
        c = r.get("command")
        key = (r.get("contender"), c)
        if r.get("contender") and c and key not in seen:
            seen.add(key)
            print(f"* `{r['contender']}`: `{c}`")


def current(rows):
    k8s = next((r["k8s_version"] for r in rows if "k8s_version" in r), "")
    raw = [r for r in rows if r["workload"] == "raw"]
    summaries = [r for r in rows if r["workload"] == "raw-summary"]
    if summaries:
        print(f"### Raw ceiling (driver, 128 creates in flight; Kubernetes {k8s})\n")
        print("| N | transport | bursts | all in (ms): median [range] | Jobs/s (median) | kube-apiserver CPU (ms/create, median) | ceiling |")
        print("| ---: | --- | ---: | ---: | ---: | ---: | --- |")
        for s in summaries:
            cpu = median(r.get("apiserver_cpu_ms_per_request") for r in raw if r["n"] == s["n"] and r["transport"] == s["transport"])
            print(f"| {s['n']} | {s['transport']} | {s['bursts']} | {spread(s['all_exist_ms'])} | {v(s['jobs_per_s'])} | {v(cpu, '{:.2f}')} | {'**yes**' if s['ceiling'] else ''} |")

    writes = [r for r in rows if r["workload"] == "writes"]
    if writes:
        print("\n### What one request costs the API server (driver, 128 in flight)\n")
        print("| request | N | requests/s | kube-apiserver CPU (ms/request) | etcd CPU (ms/request) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for n in sorted({r["n"] for r in raw if r["n"] >= 1000}):
            for t in ("http1", "http2"):
                rs = [r for r in raw if r["n"] == n and r["transport"] == t]
                if rs:
                    print(f"| POST jobs (raw, {t}, median of {len(rs)}) | {n} | {v(median(r['jobs_per_s'] for r in rs))} | "
                          f"{v(median(r['apiserver_cpu_ms_per_request'] for r in rs), '{:.2f}')} | {v(median(r['etcd_cpu_ms_per_request'] for r in rs), '{:.2f}')} |")
        for r in writes:
            print(f"| {r['request']} ({r.get('transport', 'http1')}) | {r['n']} | {v(r['requests_per_s'])} | {v(r['apiserver_cpu_ms_per_request'], '{:.2f}')} | {v(r['etcd_cpu_ms_per_request'], '{:.2f}')} |")

    bursts = [r for r in rows if r["workload"] == "burst"]
    lat = [r for r in rows if r["workload"] == "latency"]
    if lat:
        print("\n### Bursts (`* * * * *`, all N CronJobs firing at the same minute boundary; median [range] over the bursts)\n")
        print("| N | contender | bursts done | all Jobs exist (ms) | of raw ceiling | all statuses written (ms) | creation skew p50 (ms) | p99 (ms) | CPU per burst (s): contender / apiserver / etcd |")
        print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in lat:
            bs = [b for b in bursts if b["n"] == r["n"] and b["contender"] == r["contender"]]
            cpu = " / ".join(v(median(b["burst_cpu_s"][k] for b in bs if b["complete"]), "{:.2f}") for k in ("contender", "kube-apiserver", "etcd"))
            frac = r.get("fraction_of_raw") if r["n"] > 1 else None
            done = f"{r['complete_bursts']} / {r['bursts']}"
            all_in = spread(r["all_exist_ms"])
            if r["complete_bursts"] < r["bursts"]:
                done += f" ({r['jobs_seen']} of {r['jobs_expected']} Jobs in 55 s)"
                if r["complete_bursts"] == 0:
                    all_in = ">55000"
            print(
                f"| {r['n']} | {r['contender']} | {done} | {all_in} | {v(frac * 100 if frac is not None else None, '{:.0f} %')} | "
                f"{spread(r['status_all_ms'])} | {spread(r['p50_ms'])} | {spread(r['p99_ms'])} | {cpu} |"
            )
    if show_bursts and bursts:
        print("\n#### Every burst\n")
        print("| N | round | position | contender | Jobs | all in (ms) | statuses (ms) | p99 (ms) |")
        print("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
        for b in bursts:
            print(f"| {b['n']} | {b['round']} | {b['order']} | {b['contender']} | {b['jobs_seen']} | {v(b['all_exist_ms'])} | {v(b['status_all_ms'])} | {v(b['p99_ms'])} |")

    apf = [r for r in rows if r["workload"] == "apf"]
    apf_bursts = [r for r in rows if r["workload"] == "apf-burst"]
    if apf:
        print("\n### API Priority and Fairness (a burst of N while a noisy client floods the API server; median [range])\n")
        print("| N | configuration | contender (as) | bursts done | all Jobs exist (ms) | all statuses written (ms) | p99 (ms) | contender's 429s | where its requests went (flow schema / priority level: dispatched, mean queue wait) | noise LISTs/s |")
        print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
        for r in apf:
            bs = [b for b in apf_bursts if b["config"] == r["config"]]
            who = bs[0]["contender"] if bs else "—"
            # The contender's flow schemas: everything but the noise's and the
            # control plane's, which the noisy configurations share.
            where = {}
            for b in bs:
                for k, a in (b.get("apf") or {}).items():
                    if k.split("/")[0] in ("exempt", "system-nodes", "system-node-high", "probes", "kube-controller-manager", "kube-scheduler", "global-default", "catch-all"):
                        continue
                    w = where.setdefault(k, [0, []])
                    w[0] += a["dispatched"]
                    if a.get("wait_ms_mean") is not None:
                        w[1].append(a["wait_ms_mean"])
            where_s = "; ".join(f"{k}: {w[0] / max(len(bs), 1):.0f}, {v(median(w[1]), '{:.1f}')} ms" for k, w in sorted(where.items()))
            print(
                f"| {r['n']} | {r['config']} | {who} | {r['complete_bursts']} / {r['bursts']} | {spread(r['all_exist_ms'])} | "
                f"{spread(r['status_all_ms'])} | {spread(r['p99_ms'])} | {v(r.get('contender_429s'))} | {where_s or '—'} | {spread(r.get('noise_requests_per_s'))} |"
            )

    for label, title in (("steady", "Steady state"), ("scale", "Scale")):
        setup = [r for r in rows if r["workload"] == f"{label}-setup"]
        base = [r for r in rows if r["workload"] == f"{label}-baseline"]
        st = [r for r in rows if r["workload"] == label]
        if not st:
            continue
        n = st[0]["n"]
        print(f"\n### {title}: {n} CronJobs, {n * 3} finished Jobs (next slot ~21 h away)\n")
        for s in setup:
            made = (f"the {s['n'] + s['jobs']} objects of run {s['reused_run']} reused (BENCH_REUSE_OBJECTS=1)" if "reused_run" in s
                    else f"{s['n'] + s['jobs']} objects in {s['setup_s']:.0f} s ({s['writes_per_s']:.0f} writes/s)")
            print(f"Set-up: {made}; then etcd database "
                  f"{v((s.get('etcd_db_bytes') or 0) / 2**20)} MiB ({v((s.get('etcd_db_in_use_bytes') or 0) / 2**20)} MiB in use), "
                  f"kube-apiserver RSS {v((s.get('apiserver_rss_kib') or 0) / 1024)} MiB, etcd RSS {v((s.get('etcd_rss_kib') or 0) / 1024)} MiB, "
                  f"{v((s.get('mem_available_kib') or 0) / 2**20, '{:.1f}')} GiB of memory available.\n")
        print("| contender | caches synced (ms) | all CronJobs synced (ms) | RSS steady (MiB) | per cached object (KiB) | RSS peak: start-up / relist (MiB) | relist peak / steady | relist | CPU: start-up / {idle} s idle / relist (s) | kube-apiserver CPU during its start-up (s) | idle requests besides watches | watches re-opened |".replace("{idle}", str(data["run"].get("idle_secs", 60))))
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |")
        for b in base:
            print(f"| (none: baseline, {b['idle_s']} s) | — | — | — | — | — | — | — | — | — | {v(b['idle_requests'])} | {v(b['idle_watch_requests'])} |")
        for r in st:
            relist = "—"
            if "relisted" in r:
                relist = ("relisted" if r["relisted"] else "not seen") + (f" in {r['relist_done_ms'] / 1000:.1f} s" if r.get("relist_done_ms") is not None else "")
            elif "relist_error" in r:
                relist = "failed"
            rp = r.get("rss_relist_peak_kib")
            print(
                f"| {r['contender']} | {v(r['caches_synced_ms'])} | {v(r['startup_ms'])} | {r['rss_steady_kib'] / 1024:.0f} | {r['kib_per_object']:.2f} | "
                f"{r['rss_startup_peak_kib'] / 1024:.0f} / {v(rp / 1024 if rp is not None else None)} | {v(r.get('relist_peak_over_steady'), '{:.2f}')} | {relist} | "
                f"{r['startup_cpu_s']:.1f} / {r['cpu_idle_s']:.2f} / {v(r.get('relist_cpu_s'), '{:.1f}')} | {v(r.get('apiserver_startup_cpu_s'), '{:.1f}')} | {v(r['idle_requests'])} | {v(r['idle_watch_requests'])} |"
            )
    commands(rows)


if any(r["workload"] in ("burst", "raw-summary", "apf", "scale", "steady-setup") for r in rows):
    current(rows)
else:
    legacy(rows)
    commands(rows)
