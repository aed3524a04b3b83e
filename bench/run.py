"""Benchmarks and the course leaderboard: every course model against the libraries people use.

One command (from the repository root):

    python bench/run.py            # full: every section in SECTIONS
    python bench/run.py --smoke    # tiny version of every section (< 60 s), to a temp folder

Full mode writes bench/results/results.json, results.md, scaling.png and time_to_accuracy.png
and rewrites the leaderboard section of README.md between `<!-- leaderboard:start -->` and
`<!-- leaderboard:end -->`, and its ranking table between `<!-- ranking:start -->` and
`<!-- ranking:end -->` (each left alone when its markers are absent). bench/README.md explains
every protocol choice. The course models are imported from `utils`; nothing here redefines one.
Each section lives in its own module of this folder; `SECTIONS` lists them in running order.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import this folder as the `bench` package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np
import pandas as pd
import torch

from bench.accuracy import accuracy_section
from bench.common import README, RESULTS, T0, log
from bench.contenders import peer_status
from bench.ranking import ranking_section
from bench.ranking import update_readme as update_ranking_readme
from bench.report import check_targets, markdown, plot_time_to_accuracy, update_readme
from bench.scaling import scaling_section
from bench.speed import speed_section, throughput_section
from utils.device import describe, pick_device

# A section is a name and a function of (args, peer status, skipped list, output folder) that
# returns its part of results.json. A new section adds one line here (and its report part).
Section = Callable[[argparse.Namespace, dict[str, str], list[str], Path], dict[str, Any]]
SECTIONS: list[tuple[str, Section]] = [
    ("accuracy", lambda args, status, skipped, out: accuracy_section(args, status, skipped)),
    ("speed", lambda args, status, skipped, out: speed_section(args)),
    ("throughput", lambda args, status, skipped, out: throughput_section(args, status)),
    ("scaling", lambda args, status, skipped, out: scaling_section(args, out)),
    ("ranking", lambda args, status, skipped, out: ranking_section(args.smoke, log)),
]


def environment(args: argparse.Namespace, status: dict[str, str]) -> dict[str, Any]:
    """Versions, machine, threads and the load average at the start (for results.md)."""
    return {
        "smoke": args.smoke, "python": platform.python_version(),
        "torch": torch.__version__, "numpy": np.__version__, "pandas": pd.__version__,
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores"
                   + (f", {describe(pick_device())}" if pick_device().type != "cpu" else ""),
        "torch_threads": torch.get_num_threads(), "peers": status,
        "load_start": [round(x, 1) for x in os.getloadavg()],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run (< 60 s) for the tests")
    parser.add_argument("--out", type=Path, help="output folder (default: bench/results; "
                        "smoke: a new temporary folder)")
    parser.add_argument("--sections", default=",".join(name for name, _ in SECTIONS),
                        help=f"comma-separated subset of {','.join(n for n, _ in SECTIONS)} (a "
                        "subset keeps the other sections of an existing results.json)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for the accuracy and scaling sections "
                        "(default 1: robust when other jobs share the CPU; the speed and "
                        "throughput sections also time every thread count)")
    args = parser.parse_args(argv)
    known = {name for name, _ in SECTIONS}
    args.sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    if args.sections - known:
        parser.error(f"unknown section(s) {sorted(args.sections - known)}; pick from "
                     f"{sorted(known)}")
    return args


def carry_over(results: dict[str, Any], previous_path: Path, sections: set[str]) -> None:
    """Keep the sections not run this time from an existing results.json (a partial re-run)."""
    names = [name for name, _ in SECTIONS]
    if not previous_path.is_file() or sections >= set(names):
        return
    previous = json.loads(previous_path.read_text())
    kept = [name for name in names if name not in sections and name in previous]
    for name in kept:
        results[name] = previous[name]
    if kept:
        results["meta"]["carried_over"] = {"sections": kept, "from_run": previous.get("meta")}


def write_outputs(results: dict[str, Any], args: argparse.Namespace, out: Path) -> None:
    """results.json, results.md, the time-to-accuracy plot and, in full mode, README.md."""
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / "results.md").write_text(markdown(results))
    if "accuracy" in args.sections:
        plot_time_to_accuracy(results["accuracy"]["time_to_accuracy"],
                              out / "time_to_accuracy.png")
    if out.resolve() != RESULTS.resolve() or args.smoke:
        return
    if "accuracy" in args.sections:
        log(update_readme(results))
    if "ranking" in args.sections:
        log(update_ranking_readme(results["ranking"], README))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-smoke-")) if args.smoke else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    status = peer_status(args.smoke)
    skipped: list[str] = []
    results: dict[str, Any] = {"meta": environment(args, status), "skipped": skipped}
    for name, section in SECTIONS:
        if name in args.sections:
            results[name] = section(args, status, skipped, out)
    carry_over(results, out / "results.json", args.sections)
    results["targets"] = check_targets(results)
    results["meta"]["wall_seconds"] = time.perf_counter() - T0
    results["meta"]["load_end"] = [round(x, 1) for x in os.getloadavg()]
    write_outputs(results, args, out)
    log(f"wrote {out / 'results.json'} and results.md in {results['meta']['wall_seconds']:.0f} s")
    for target in results["targets"]:
        log(f"target {'met' if target['met'] else 'NOT MET'}: {target['target']} "
            f"({target['detail']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
