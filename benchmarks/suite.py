"""The whole comparison in one run: tradeforge's engine, compat layer and fast path against Backtesting.py 0.6.6,
vectorbt and backtrader, printed as one table and written as JSON rows.

Cases (the strategy is always the SMA(10,20) cross, always in the market: a cross closes the position and opens
the other side; market orders fill at the next bar's open; every entry spends all the cash, fees included, in
whole units; trades are closed trades; equity is the final equity, an open position marked at the last close):
- goog:   GOOG daily (bundled sample, 2,148 bars), cash 10,000, fee 0.2%.
- rw1m:   the 1,000,000-bar 1-minute random walk of common.random_walk, cash 10,000,000, fee 0.
- fast_vs_bare: the fast path's simulate against a bare numba loop on the same 1M-bar signals, warm and cold
          (first call in a fresh process, from numba's cache and with an empty cache): see fast.py.
- sweep90: the 90-combination sweep (fast 5..50 step 5, slow 20..200 step 20, fast < slow) on the first 100,000
          bars, cash 1,000,000, fee 0.2%, best by final equity; per_second is combinations/s. It must find
          fast=50, slow=200, final equity 97,454.71, 624 trades. backtrader runs only the 10 combinations with
          slow=200 (which hold the best): all 90 take it about 5 minutes; --bt-combos 90 runs them all.
- sweep_large: the fast path alone on a larger grid (fast 2..100, slow 10..400 step 10: 3,500 combinations).

Every case of every library runs in a fresh process (so the figures do not leak into one another): a small
warm-up run first (imports, numba compilation or cache load), then the timed run (the best of repeats while
they add up to under a second; three seconds for the fast path's sweeps). peak_mb is that process's peak
memory with its worker processes (peers/procmem.py: the summed PSS of the process tree sampled every 20 ms,
or the process's own peak RSS (VmHWM) if larger), not counting the 1M-bar draw the data is cut from. ratio
is seconds / the seconds of the case's tradeforge reference (marked *): above 1 is slower than tradeforge.
Trades and equity are checked against that reference; a mismatch prints a warning.

vectorbt and backtrader are optional (pip install vectorbt backtrader). They run with this interpreter when it
has them, else with --peer-python (another environment with numpy, pandas and the peer); a peer found in
neither is listed as "skipped: not installed" and has no JSON row. JSON rows: {"case", "library", "seconds",
"per_second", "peak_mb", "trades", "equity"} as in every benchmark script, plus "ratio" and "note".

    python benchmarks/suite.py [--json bench.json] [--quick] [--only CASE] [--peer-python PATH] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))

from procmem import PeakMemory  # noqa: E402

from common import row, write_json  # noqa: E402

PEERS = ("vectorbt", "backtrader")
ROW_MARK = "@@ROWS "
WARM_BARS = 2_000
CASE_KEYS = ("goog", "rw1m", "fast_vs_bare", "sweep90", "sweep_large")
FAST = "tradeforge.fast"
BARE = "bare numba loop"
COLD_CACHE = "tradeforge.fast (cold: cache)"
COLD_COMPILE = "tradeforge.fast (cold: compile)"
SERIAL = "tradeforge.fast (serial)"
TWO_WORKERS = "tradeforge.fast (2 workers)"


@dataclass
class Config:
    bars: int
    opt_bars: int
    quick: bool
    bt_combos: int

    def args(self) -> list[str]:
        out = ["--bars", str(self.bars), "--opt-bars", str(self.opt_bars), "--bt-combos", str(self.bt_combos)]
        return [*out, "--quick"] if self.quick else out


@dataclass
class Case:
    key: str
    name: str
    what: str
    reference: str
    jobs: list[str]  # libraries, in the order they run; peers are run by peers/run.py
    unit: str = "bars/s"


def cases(cfg: Config) -> list[Case]:
    import fast as fast_bench

    grid_large = fast_bench.GRID_LARGE_QUICK if cfg.quick else fast_bench.GRID_LARGE
    n_large = fast_bench.grid_size(grid_large)
    single = ["tradeforge", "tradeforge.compat", FAST, "backtesting.py", *PEERS]
    return [
        Case("goog", "sma_cross_goog_daily", "GOOG daily, cash 10,000, fee 0.2%", "tradeforge", single),
        Case("rw1m", f"sma_cross_random_walk_{cfg.bars}", f"{cfg.bars:,}-bar random walk, fee 0", "tradeforge", single),
        Case(
            "fast_vs_bare",
            f"fast_path_vs_bare_loop_{cfg.bars}",
            "simulate() vs a bare numba loop, same signals",
            FAST,
            [FAST, BARE, COLD_CACHE, COLD_COMPILE],
        ),
        Case(
            "sweep90",
            f"sweep_90_random_walk_{cfg.opt_bars}",
            f"90 combinations x {cfg.opt_bars:,} bars, fee 0.2%",
            TWO_WORKERS,
            [TWO_WORKERS, SERIAL, "tradeforge.compat (optimize)", "backtesting.py (optimize)", *PEERS],
            "combinations/s",
        ),
        Case(
            "sweep_large",
            f"sweep_{n_large}_random_walk_{cfg.opt_bars}",
            f"{n_large:,} combinations x {cfg.opt_bars:,} bars, fee 0.2%",
            TWO_WORKERS,
            [TWO_WORKERS, SERIAL],
            "combinations/s",
        ),
    ]


# ------------------------------------------------------------------------------------------------ in a child
def timed(func: Callable[[], Any], budget: float = 1.0, max_runs: int = 20) -> tuple[Any, float]:
    """Best time of repeated runs: at least one, more while they add up to less than budget seconds."""
    best_out, best, spent, runs = None, math.inf, 0.0, 0
    while runs < max_runs and (runs == 0 or spent + best < budget):
        t0 = time.perf_counter()
        out = func()
        seconds = time.perf_counter() - t0
        spent += seconds
        runs += 1
        if seconds < best:
            best_out, best = out, seconds
    return best_out, best


@dataclass
class Data:
    """One data set, built lazily in the form a library takes (so a case's memory is that library's own)."""

    make_series: Callable[[int], Any]  # n -> the first n bars as a BarSeries
    make_frame: Callable[[int], Any]  # n -> the first n bars as Backtesting.py's OHLCV DataFrame
    n: int
    cash: float
    fee: float

    @cached_property
    def series(self) -> Any:
        return self.make_series(self.n)

    @cached_property
    def frame(self) -> Any:
        return self.make_frame(self.n)

    def head(self, n: int) -> Data:
        return Data(self.make_series, self.make_frame, min(n, self.n), self.cash, self.fee)


def goog_data() -> Data:
    from tradeforge.data import load_sample, load_sample_frame

    def frame(n: int) -> Any:
        out = load_sample_frame("GOOG").rename(columns=str.capitalize).iloc[:n]
        out.index = out.index.tz_localize(None)
        return out

    return Data(lambda n: load_sample("GOOG").slice(0, n), frame, len(load_sample("GOOG")), 10_000.0, 0.002)


def walk_data(n: int, cash: float, fee: float) -> Data:
    """The first n bars of the 1M-bar random walk."""
    import compat
    import fast as fast_bench
    from common import random_walk

    walk = {k: v[:n].copy() for k, v in random_walk(max(n, 1_000_000)).items()}
    return Data(lambda k: fast_bench.walk_series(k, walk), lambda k: compat.frame_of(walk, k), n, cash, fee)


def single_run(library: str) -> Callable[[Data], tuple[int, float]]:
    import compat
    import engine
    import fast as fast_bench

    def compat_run(d: Data) -> tuple[int, float]:
        stats = compat.run_once("tradeforge.compat", d.frame, d.cash, d.fee)
        return int(stats["# Trades"]), float(stats["Equity Final [$]"])

    return {
        "tradeforge": lambda d: engine.run_tf(d.series, d.cash, d.fee),
        "tradeforge.compat": compat_run,
        FAST: lambda d: fast_bench.fast_sma_cross(d.series, d.cash, d.fee),
        "backtesting.py": lambda d: engine.run_bt(d.frame, d.cash, d.fee),
    }[library]


def optimize(library: str, d: Data, grid: dict[str, range]) -> tuple[int, float, dict[str, int]]:
    """Backtesting.py's optimize() (or tradeforge.compat's) over the grid, best by final equity."""
    import compat

    bt = compat.backtest_class(library)(d.frame, compat.make_strategy(library), cash=d.cash, commission=d.fee)
    stats = bt.optimize(
        n1=list(grid["fast"]), n2=list(grid["slow"]), constraint=lambda p: p.n1 < p.n2, maximize="Equity Final [$]"
    )
    best = {"fast": int(stats["_strategy"].n1), "slow": int(stats["_strategy"].n2)}
    return int(stats["# Trades"]), float(stats["Equity Final [$]"]), best


def child(case_key: str, library: str, cfg: Config) -> dict[str, Any]:
    """Run one library on one case in this (fresh) process; return its row."""
    warnings.filterwarnings("ignore")
    import fast as fast_bench

    case = next(c for c in cases(cfg) if c.key == case_key)
    if case_key == "goog":
        data = goog_data()
    elif case_key in ("rw1m", "fast_vs_bare"):
        data = walk_data(cfg.bars, 10_000_000.0, 0.0)
    else:
        data = walk_data(cfg.opt_bars, 1_000_000.0, 0.002)
    memory = PeakMemory().start(reset=True)  # not the 1M-bar draw the first bars are cut from
    note = ""
    best: dict[str, int] | None = None
    if case_key in ("goog", "rw1m"):
        run = single_run(library)
        run(data.head(WARM_BARS))
        (trades, equity), seconds = timed(lambda: run(data))
        units = data.n
    elif case_key == "fast_vs_bare":
        s = data.series
        up, down = fast_bench.sma_signals(s)
        units = data.n
        if library == BARE:
            fast_bench.bare_reversal_nb(s.open[:100], s.close[:100], up[:100], down[:100], data.cash, data.fee)
            (trades, equity, _), seconds = timed(
                lambda: fast_bench.bare_reversal_nb(s.open, s.close, up, down, data.cash, data.fee)
            )
            note = "the same signals through the loop in fast.py (compiled before timing)"
        else:
            if library == FAST:
                fast_bench.warm_up()
                result, seconds = timed(lambda: fast_bench.simulate_reversal(s, up, down, data.cash, data.fee))
                note = "simulate() only; the signals are computed before timing"
            else:  # cold: the first call in this process
                t0 = time.perf_counter()
                result = fast_bench.simulate_reversal(s, up, down, data.cash, data.fee)
                seconds = time.perf_counter() - t0
                note = "first call in a fresh process, " + (
                    "numba cache loaded" if library == COLD_CACHE else "empty numba cache: compiles"
                )
            trades, equity = int(result.n_trades[0]), float(result.final_equity[0])
    else:
        grid = fast_bench.GRID_90 if case_key == "sweep90" else case_grid(cfg)
        if library in (SERIAL, TWO_WORKERS):
            fast_bench.warm_up()
            executor = fast_bench.executor_of("serial" if library == SERIAL else "2")
            result, seconds = timed(lambda: fast_bench.run_sweep(data.series, grid, executor), budget=3.0, max_runs=5)
            trades, equity, best = fast_bench.best_of_sweep(result)
            units = len(result.stats)
        else:
            base = library.split(" ")[0]
            single_run(base)(data.head(WARM_BARS))
            (trades, equity, best), seconds = timed(lambda: optimize(base, data, grid))
            units = fast_bench.grid_size(grid)
        note = f"best fast={best['fast']}, slow={best['slow']}"
    out = row(case.name, library, seconds, units, memory.stop(), trades, equity)
    return out | {"note": note, "best": None if best is None else [best["fast"], best["slow"]]}


def case_grid(cfg: Config) -> dict[str, range]:
    import fast as fast_bench

    return fast_bench.GRID_LARGE_QUICK if cfg.quick else fast_bench.GRID_LARGE


# ------------------------------------------------------------------------------------------------ the parent
def peer_interpreters(peer_python: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """{peer: interpreter} for the peers found, and {peer: version}."""
    where: dict[str, str] = {}
    versions: dict[str, str] = {}
    for python in [sys.executable, *([peer_python] if peer_python else [])]:
        try:
            out = subprocess.run(
                [python, str(HERE / "peers" / "run.py"), "--check"], capture_output=True, text=True, timeout=300
            )
            found = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {}
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            found = {}
        for name, version in found.items():
            if name not in where:
                where[name], versions[name] = python, version
    return where, versions


def run_job(case: Case, library: str, cfg: Config, peers: dict[str, str], goog_npz: str) -> dict[str, Any]:
    env = dict(os.environ)
    if library in PEERS:
        cmd = [peers[library], str(HERE / "peers" / "run.py"), "--case", case.key, "--library", library]
        cmd += ["--bars", str(cfg.bars), "--opt-bars", str(cfg.opt_bars), "--goog", goog_npz, "--case-name", case.name]
        if library == "backtrader" and case.key == "sweep90" and cfg.bt_combos < 90:
            cmd += ["--combos", str(cfg.bt_combos)]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", case.key, library, *cfg.args()]
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as empty_cache:
        if library == COLD_COMPILE:
            env["NUMBA_CACHE_DIR"] = empty_cache
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1_800)
    rows = [line[len(ROW_MARK) :] for line in proc.stdout.splitlines() if line.startswith(ROW_MARK)]
    if proc.returncode != 0 or not rows:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"exit {proc.returncode}: {tail}")
    return dict(json.loads(rows[-1])[0])


def checks(case: Case, rows: list[dict[str, Any]], cfg: Config) -> list[str]:
    """Warnings: rows whose trades or final equity differ from the reference's (or sweeps whose best does)."""
    import fast as fast_bench

    ref = next((r for r in rows if r["library"] == case.reference and "seconds" in r), None)
    out: list[str] = []
    if ref is None:
        return [f"{case.name}: the reference {case.reference} did not run; nothing compared"]
    for r in rows:
        if r is ref or "seconds" not in r:
            continue
        if r.get("best") and ref.get("best") and r["best"] != ref["best"]:
            if " of " in r["library"]:
                out.append(f"{case.name}: {r['library']} ran a subset whose best {r['best']} is not the grid's best")
                continue
            out.append(f"WARNING {case.name}: {r['library']} finds best {r['best']}, {case.reference} {ref['best']}")
        same_equity = math.isclose(r["equity"], ref["equity"], rel_tol=1e-9)
        if r["trades"] != ref["trades"] or not same_equity:
            out.append(
                f"WARNING {case.name}: {r['library']} made {r['trades']} trades ending at {r['equity']:,.6f}; "
                f"{case.reference} {ref['trades']} trades ending at {ref['equity']:,.6f}"
            )
    if case.key == "sweep90" and cfg.opt_bars == 100_000:
        want = fast_bench.REFERENCE_90
        for r in rows:
            if "seconds" not in r or r.get("best") != [want["fast"], want["slow"]]:
                continue
            ok = r["trades"] == want["trades"] and abs(r["equity"] - want["equity"]) < 0.005
            verdict = "reproduces" if ok else "WARNING: does NOT reproduce"
            out.append(f"{case.name}: {r['library']} {verdict} fast=50, slow=200, 97,454.71, 624 trades")
    return out


def fmt(x: Any, spec: str) -> str:
    return "" if x is None else format(x, spec)


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return ""
    return format(x, ",.0f") if x >= 100 else format(x, ".2f") if x >= 1 else format(x, ".2g")


def print_table(rows: list[dict[str, Any]], markdown: bool) -> None:
    head = ["case", "library", "seconds", "per_second", "peak_mb", "trades", "equity", "ratio"]
    lines = []
    for r in rows:
        if "seconds" not in r:
            lines.append([r["case"], f"{r['library']} ({r['status']})", "", "", "", "", "", ""])
            continue
        lines.append(
            [
                r["case"],
                r["library"] + (" *" if r.get("reference") else ""),
                fmt(r["seconds"], ",.4f"),
                fmt(r["per_second"], ",.1f"),
                fmt(r["peak_mb"], ",.0f"),
                fmt(r["trades"], ","),
                fmt(r["equity"], ",.2f"),
                fmt_ratio(r.get("ratio")),
            ]
        )
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for line in lines:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    for line in [head, *lines]:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        print("  ".join(cells))


def goals(rows: list[dict[str, Any]], all_cases: list[Case]) -> list[str]:
    by = {(r["case"], r["library"]): r for r in rows if "seconds" in r}
    out = []
    names = {c.key: c.name for c in all_cases}
    fast_row, bare = by.get((names["fast_vs_bare"], FAST)), by.get((names["fast_vs_bare"], BARE))
    if fast_row and bare:
        ratio = fast_row["seconds"] / bare["seconds"]
        out.append(
            f"fast path vs bare numba loop: {ratio:.3f}x the bare loop's time "
            f"({fast_row['seconds'] * 1000:.1f} ms vs {bare['seconds'] * 1000:.1f} ms) - goal <= 2x: "
            + ("met" if ratio <= 2 else "NOT met")
        )
    for key in ("sweep90", "sweep_large"):
        r = by.get((names[key], TWO_WORKERS))
        if r:
            met = r["per_second"] >= 3_000 and r["peak_mb"] < 500
            out.append(
                f"{names[key]} on 2 workers: {r['per_second']:,.0f} combinations/s, peak {r['peak_mb']:,.0f} MB "
                f"- goal >= 3,000/s and < 500 MB: " + ("met" if met else "NOT met")
            )
    return out


def main(argv: list[str] | None = None, fast_only: bool = False) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", dest="json_path", default=None, help="write the rows to this file")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (100k bars, 20k for sweeps): a smoke run")
    parser.add_argument("--only", action="append", choices=CASE_KEYS, help="run only this case (repeatable)")
    parser.add_argument("--peer-python", default=None, help="interpreter that has vectorbt / backtrader")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--bars", type=int, default=None, help="bars of the long run (default 1,000,000)")
    parser.add_argument("--opt-bars", type=int, default=None, help="bars of the sweeps (default 100,000)")
    parser.add_argument("--bt-combos", type=int, default=None, help="backtrader's sweep: combinations (default 10)")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "LIBRARY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = Config(
        bars=args.bars or (100_000 if args.quick else 1_000_000),
        opt_bars=args.opt_bars or (20_000 if args.quick else 100_000),
        quick=args.quick,
        bt_combos=args.bt_combos or (2 if args.quick else 10),
    )
    if args.child:
        print(ROW_MARK + json.dumps([child(args.child[0], args.child[1], cfg)]))
        return

    selected = [c for c in cases(cfg) if not args.only or c.key in args.only]
    if fast_only:
        keep = {FAST, BARE, COLD_CACHE, COLD_COMPILE, SERIAL, TWO_WORKERS}
        selected = [c for c in selected if c.key in ("fast_vs_bare", "sweep90", "sweep_large")]
        for c in selected:
            c.jobs = [j for j in c.jobs if j in keep]
    wants_peers = any(j in PEERS for c in selected for j in c.jobs)
    peers, versions = peer_interpreters(args.peer_python) if wants_peers else ({}, {})
    if wants_peers:
        found = ", ".join(f"{k} {v} ({peers[k]})" for k, v in versions.items()) or "none"
        print(f"peers found: {found}", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        goog_npz = str(Path(tmp) / "goog.npz")
        if any(c.key == "goog" for c in selected) and peers:
            write_goog_npz(goog_npz)
        total = sum(len(c.jobs) for c in selected)
        done = 0
        for case in selected:
            case_rows: list[dict[str, Any]] = []
            for library in case.jobs:
                done += 1
                if library in PEERS and library not in peers:
                    case_rows.append({"case": case.name, "library": library, "status": "skipped: not installed"})
                    continue
                print(f"[{done}/{total}] {case.name}: {library} ...", file=sys.stderr, flush=True)
                t0 = time.perf_counter()
                try:
                    r = run_job(case, library, cfg, peers, goog_npz)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    case_rows.append({"case": case.name, "library": library, "status": f"failed: {exc}"[:200]})
                    notes.append(f"WARNING {case.name}: {library} failed: {exc}")
                    continue
                print(f"    {time.perf_counter() - t0:.1f} s wall", file=sys.stderr, flush=True)
                case_rows.append(r)
            ref = next((r for r in case_rows if r["library"] == case.reference and "seconds" in r), None)
            for r in case_rows:
                if "seconds" in r and ref is not None:
                    r["ratio"] = float(f"{r['seconds'] / ref['seconds']:.4g}")
                    r["reference"] = r is ref
            notes += checks(case, case_rows, cfg)
            rows += case_rows
    print()
    print_table(rows, args.markdown)
    print()
    print("ratio: seconds / seconds of the case's reference (*); above 1 is slower than tradeforge's reference.")
    for line in notes + goals(rows, cases(cfg)):
        print(line)
    if cfg.quick or cfg.bars != 1_000_000 or cfg.opt_bars != 100_000:
        print("(smaller sizes than the issue's: the goals are for 1,000,000 bars and sweeps on 100,000)")
    load = f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" if hasattr(os, "getloadavg") else ""
    print(f"whole suite: {time.perf_counter() - started:.0f} s{load}", file=sys.stderr)
    keys = ("case", "library", "seconds", "per_second", "peak_mb", "trades", "equity", "ratio", "note")
    write_json([{k: r.get(k) for k in keys} for r in rows if "seconds" in r], args.json_path)
    if any(r.get("status", "").startswith("failed") for r in rows):
        raise SystemExit(1)


def write_goog_npz(path: str) -> None:
    """GOOG daily for the peer runner (which may not have tradeforge)."""
    import numpy as np

    from tradeforge.data import load_sample_frame

    frame = load_sample_frame("GOOG")
    cols = {c: frame[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close", "volume")}
    np.savez(path, ts=frame.index.tz_localize(None).as_unit("ns").asi8, **cols)


if __name__ == "__main__":
    main()
