"""The targets, results.md and the README's leaderboard section."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from bench.common import MARK_END, MARK_START, NDCG_K, README
from bench.ranking import ranking_markdown


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target, each with met / not met and the numbers behind the verdict."""
    accuracy = results.get("accuracy", {})
    rows = [r for r in accuracy.get("rows", []) if r.get("listed", True)]
    timed = [t for t in accuracy.get("time_to_accuracy", []) if t.get("listed", True)]
    return (_surprise_targets(rows, accuracy.get("head_to_head", []))
            + _dominance_targets(timed) + _speed_targets(results))


def _surprise_targets(rows: list[dict[str, Any]], head: list[dict[str, Any]]
                      ) -> list[dict[str, Any]]:
    """Per split: a course model beats surprise's best RMSE, and one beats SVD on time too."""
    frame, timed, targets = pd.DataFrame(rows), pd.DataFrame(head), []
    if frame.empty or not (frame["library"] == "scikit-surprise").any():
        return targets
    for split, part in frame.groupby("split", sort=False):
        course = part[part["kind"] == "course"]
        peer = part[part["library"] == "scikit-surprise"]
        if course.empty or peer.empty:
            continue
        best_c, best_p = course.loc[course["rmse"].idxmin()], peer.loc[peer["rmse"].idxmin()]
        targets.append({
            "target": f"best course model beats scikit-surprise's best RMSE on {split}",
            "met": bool(best_c["rmse"] < best_p["rmse"]),
            "detail": f"{best_c['model']} {best_c['rmse']:.4f} vs {best_p['model']} "
                      f"{best_p['rmse']:.4f}",
        })
        contest = timed[timed["split"] == split] if not timed.empty else timed
        svd = contest[contest["model"] == "scikit-surprise SVD"] if not contest.empty else contest
        if svd.empty:
            continue
        svd, course = svd.iloc[0], contest[contest["model"] != "scikit-surprise SVD"]
        faster = course[(course["rmse"] <= svd["rmse"])
                        & (course["median_seconds"] < svd["median_seconds"])]
        detail = (f"SVD {svd['rmse']:.4f} in {svd['median_seconds']:.2f} s; " + (
            ", ".join(f"{r['model']} {r['rmse']:.4f} in {r['median_seconds']:.2f} s"
                      for _, r in faster.iterrows())
            or "no course model at <= RMSE trains faster")
            + " (median of fits timed one at a time)")
        targets.append({"target": f"a course model trains faster than surprise SVD at equal or "
                                  f"better RMSE on {split}", "met": not faster.empty,
                        "detail": detail})
    return targets


def dominated_by(peer: dict[str, Any], course: list[dict[str, Any]]) -> str:
    """The course model at most as slow and at most as wrong as `peer`, else the gap."""
    for entry in sorted(course, key=lambda t: t["median_seconds"]):
        if entry["rmse"] <= peer["rmse"] and entry["median_seconds"] <= peer["median_seconds"]:
            return (f"{peer['model']} ({peer['rmse']:.4f}, {peer['median_seconds']:.2f} s) by "
                    f"{entry['model']} ({entry['rmse']:.4f}, {entry['median_seconds']:.2f} s)")
    accurate = [t for t in course if t["rmse"] <= peer["rmse"]]
    if not accurate:
        return f"NOT {peer['model']} ({peer['rmse']:.4f}): no course model is as accurate"
    fastest = min(accurate, key=lambda t: t["median_seconds"])
    slower = fastest["median_seconds"] / peer["median_seconds"]
    return (f"NOT {peer['model']} ({peer['rmse']:.4f}, {peer['median_seconds']:.2f} s): the "
            f"fastest course model at <= its RMSE, {fastest['model']}, takes "
            f"{fastest['median_seconds']:.2f} s ({slower:.1f}x)")


def _dominance_targets(timed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per split: every peer is dominated (RMSE and median fit seconds) by some course model."""
    targets = []
    for split in dict.fromkeys(t["split"] for t in timed):
        here = [t for t in timed if t["split"] == split]
        course = [t for t in here if t["kind"] == "course"]
        verdicts = [dominated_by(peer, course) for peer in here if peer["kind"] == "peer"]
        if verdicts:
            targets.append({
                "target": f"every peer is dominated by a course model (RMSE and fit seconds) on "
                          f"{split}", "met": not any(v.startswith("NOT") for v in verdicts),
                "detail": "; ".join(verdicts)})
    return targets


def _speed_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The course loop's ratings/s: >= 2 M at ml-1m scale, and >= cornac MF's per thread count."""
    targets = []
    speed = results.get("speed", {})
    ml1m = [r for r in speed.get("rows", []) if r["dataset"].startswith("synthetic")
            and r["loop"].startswith("utils") and r["device"].startswith("cpu")]
    if ml1m:
        best = max(ml1m, key=lambda r: r["ratings_per_second"])
        targets.append({
            "target": "utils.train.fit, MF+bias K=32 at ml-1m scale on the CPU >= 2,000,000 "
                      "ratings/s",
            "met": best["ratings_per_second"] >= 2e6,
            "detail": f"{best['ratings_per_second']:,.0f} ratings/s ({best['device']}, batch "
                      f"{best['batch_size'] or 'full'})",
        })
    rows = results.get("throughput", {}).get("rows", [])
    for threads in sorted({r["threads"] for r in rows}):
        here = [r for r in rows if r["threads"] == threads]
        course = [r for r in here if r["loop"].startswith("utils")]
        cornac = [r for r in here if r["loop"].startswith("cornac")]
        if course and cornac:
            best, peer = max(course, key=lambda r: r["ratings_per_second"]), cornac[0]
            targets.append({
                "target": f"course loop's raw throughput (MF+bias K=32) >= cornac MF's, "
                          f"{threads} thread{'s' * (threads > 1)}",
                "met": best["ratings_per_second"] >= peer["ratings_per_second"],
                "detail": f"{best['loop']} {best['ratings_per_second'] / 1e6:.2f} M/s vs cornac "
                          f"{peer['ratings_per_second'] / 1e6:.2f} M/s "
                          f"({best['ratings_per_second'] / peer['ratings_per_second']:.2f}x)"})
    return targets


def fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


def leaderboard_table(rows: list[dict[str, Any]]) -> str:
    """Models as rows, splits as columns of RMSE; the best per column in bold."""
    frame = pd.DataFrame([r for r in rows if r.get("listed", True)])
    if frame.empty:
        return "_no accuracy rows_\n"
    splits = list(dict.fromkeys(frame["split"]))
    models = list(dict.fromkeys(frame["model"]))
    pivot = frame.pivot(index="model", columns="split", values="rmse").reindex(models)[splits]
    lines = ["| model | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for model in models:
        cells = []
        for split in splits:
            value = pivot.loc[model, split]
            text = fmt(value)
            if text and value == pivot[split].min():
                text = f"**{text}**"
            cells.append(text or "n/a")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def split_tables(rows: list[dict[str, Any]]) -> str:
    parts = []
    frame = pd.DataFrame(rows)
    for split, part in frame.groupby("split", sort=False):
        seeds = max(len(s) for s in part["seeds"])
        head = f"#### {split}\n\n"
        if part["fold_of"].notna().any():
            head = f"#### {split} (one of the five folds)\n\n"
        lines = [f"| model | RMSE{' (mean ± sd over seeds)' if seeds > 1 else ''} | MAE | "
                 f"fit s | NDCG@{NDCG_K} |", "|---|---:|---:|---:|---:|"]
        for _, r in part.sort_values("rmse").iterrows():
            spread = f" ± {r['rmse_std']:.4f}" if r["rmse_std"] is not None and \
                not (isinstance(r["rmse_std"], float) and math.isnan(r["rmse_std"])) else ""
            lines.append(f"| {r['model']} | {r['rmse']:.4f}{spread} | {r['mae']:.4f} | "
                         f"{r['fit_seconds']:.2f} | {fmt(r[f'ndcg@{NDCG_K}'])} |")
        rows0 = part.iloc[0]
        parts.append(head + f"{rows0['n_train']:,} training and {rows0['n_test']:,} test "
                     f"ratings.\n\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def head_to_head_table(timed: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: surprise SVD against the course models at <= its RMSE, timed in turn."""
    listed = [t for t in timed if t["listed"]]
    if not listed:
        return []
    svd = {t["split"]: t["median_seconds"] for t in listed if t["model"] == "scikit-surprise SVD"}
    lines = ["### Head to head with scikit-surprise SVD (fit seconds)\n",
             "Surprise's SVD and every course model with an RMSE at or below it on that split, "
             "fitted again one at a time in one process, interleaved, "
             f"{max(len(t['seconds'] or []) for t in listed)} times "
             "each; the median is shown. The five-fold row averages the folds' medians.\n",
             "| split | model | RMSE | fit s (median) | SVD s / model s |",
             "|---|---|---:|---:|---:|"]
    lines += [f"| {t['split']} | {t['model']} | {t['rmse']:.4f} | {t['median_seconds']:.2f} | "
              f"{svd[t['split']] / t['median_seconds']:.2f} |" for t in listed]
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    """results.md: the run's context, then one part per section that ran."""
    meta = results["meta"]
    out = [
        "# Benchmark results\n",
        f"Generated by `python bench/run.py{' --smoke' if meta['smoke'] else ''}` in "
        f"{meta['wall_seconds']:.0f} s on {meta['machine']}; torch threads for training: "
        f"{meta['torch_threads']}; load average at start/end: {meta['load_start']} / "
        f"{meta['load_end']} (the bench itself adds about 1; more means other jobs shared the CPU "
        "and the timings are upper bounds). "
        f"Peers: {', '.join(f'{k} {v}' for k, v in meta['peers'].items())}.\n",
    ]
    carried = meta.get("carried_over")
    if carried:
        earlier = carried.get("from_run") or {}
        out.append(f"Not run this time, kept from an earlier run of the bench (load average at "
                   f"its start {earlier.get('load_start', 'unknown')}): the "
                   f"{', '.join(carried['sections'])} section(s).\n")
    for part in MARKDOWN_PARTS:
        out += part(results)
    if results["skipped"]:
        out += ["## Skipped (never estimated)\n"] + [f"- {s}" for s in results["skipped"]] + [""]
    return "\n".join(out)


def _accuracy_markdown(results: dict[str, Any]) -> list[str]:
    accuracy = results.get("accuracy")
    if not accuracy:
        return []
    out = [
        "## Accuracy leaderboard (test RMSE, lower is better)\n",
        "Every model trains on the same encoded training rows and is scored on the same "
        "test rows (test rows whose user or item is not in training are dropped for all). "
        f"Hyperparameters were chosen on {accuracy['tuning_split']} and reused on every "
        "split. The five-fold column is the mean over ml-100k's u1..u5.\n",
        leaderboard_table(accuracy["rows"]),
        "\n### Per split\n",
        split_tables(accuracy["rows"]),
        "\n### Chosen hyperparameters (tuning slice RMSE)\n",
        "| model | chosen | slice RMSE | note |", "|---|---|---:|---|",
    ]
    for name, entry in accuracy["hyperparameters"].items():
        chosen = {k: v for k, v in entry["chosen"].items() if k != "slice_rmse"}
        out.append(f"| {name} | `{json.dumps(chosen)}` | "
                   f"{entry['chosen'].get('slice_rmse', '')} | {entry['note']} |")
    out.append("")
    out += head_to_head_table(accuracy.get("head_to_head", []))
    return out + time_to_accuracy_table(accuracy.get("time_to_accuracy", []))


def time_to_accuracy_table(timed: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: every model's RMSE and median fit seconds per split, the frontier marked."""
    listed = [t for t in timed if t["listed"]]
    if not listed:
        return []
    lines = ["### Time to accuracy (test RMSE against fit seconds)\n",
             "Every model fitted again one at a time in one process, interleaved, "
             f"{max(len(t['seconds'] or []) for t in listed)} times each (seed 0); the median "
             "fit time is shown. *frontier* marks the models no other model beats on both "
             "RMSE and time. ![time to accuracy](time_to_accuracy.png)\n",
             "| split | model | RMSE | fit s (median) | frontier |", "|---|---|---:|---:|:---:|"]
    for split in dict.fromkeys(t["split"] for t in listed):
        here = sorted((t for t in listed if t["split"] == split),
                      key=lambda t: t["median_seconds"])
        best = math.inf
        for t in here:  # fastest first: on the frontier when more accurate than all faster
            on_frontier = t["rmse"] < best
            best = min(best, t["rmse"])
            lines.append(f"| {split} | {t['model']} | {t['rmse']:.4f} | "
                         f"{t['median_seconds']:.2f} | {'yes' if on_frontier else ''} |")
    return [*lines, ""]


def _targets_markdown(results: dict[str, Any]) -> list[str]:
    targets = results.get("targets", [])
    if not targets:
        return []
    out = ["## Targets\n", "| target | met | numbers |", "|---|---|---|"]
    out += [f"| {t['target']} | {'yes' if t['met'] else '**NOT MET**'} | {t['detail']} |"
            for t in targets]
    return [*out, ""]


def _speed_markdown(results: dict[str, Any]) -> list[str]:
    speed = results.get("speed")
    if not speed:
        return []
    out = ["## Speed (MF+bias, K=32, Adam; seconds per training epoch)\n",
           "| data | device | loop | batch | s/epoch | ratings/s | note |",
           "|---|---|---|---:|---:|---:|---|"]
    for r in speed["rows"]:
        out.append(f"| {r['dataset']} | {r['device']} | {r['loop']} | "
                   f"{r['batch_size'] or 'full'} | {r['seconds_per_epoch']:.3f} | "
                   f"{r['ratings_per_second']:,.0f} | {r['note']} |")
    out += ["", "Ratios (the fastest utils loop on that device against the others, same "
            "run, same machine):\n", "| data | device | best utils batch | ratings/s | "
            "× lab loop | × surprise SVD epoch |", "|---|---|---:|---:|---:|---:|"]
    for r in speed["ratios"]:
        out.append(f"| {r['dataset']} | {r['device']} | {r['best_utils_batch_size'] or 'full'}"
                   f" | {r['best_utils_ratings_per_second']:,.0f} | "
                   f"{fmt(r.get('vs_dataloader_loop'), 1)} | "
                   f"{fmt(r.get('vs_surprise_svd_epoch'), 2)} |")
    if not speed["gpu"]:
        out.append("\nNo GPU on this machine: GPU rows appear when pick_device() finds one.")
    return [*out, ""]


def _throughput_markdown(results: dict[str, Any]) -> list[str]:
    throughput = results.get("throughput")
    if not throughput:
        return []
    out = [f"## Raw throughput (MF+bias, K=32, {throughput['data']}, {throughput['n_epochs']} "
           f"epochs, best of {throughput['repeats']})\n",
           "Training ratings per second of the whole fit call, every loop in this one run; "
           f"load average after the section: {throughput['load']}.\n",
           "| loop | threads | fit s | M ratings/s |", "|---|---:|---:|---:|"]
    out += [f"| {r['loop']} | {r['threads']} | {r['fit_seconds']:.2f} | "
            f"{r['ratings_per_second'] / 1e6:.2f} |" for r in throughput["rows"]]
    return [*out, ""]


def _scaling_markdown(results: dict[str, Any]) -> list[str]:
    scaling = results.get("scaling")
    if not scaling:
        return []
    out = [f"## Scaling (MF+bias K=32, {scaling['n_epochs']} epochs, batch "
           f"{scaling['batch_size']:,}, CPU)\n",
           "![fit time against ratings](scaling.png)\n",
           f"Least-squares slope of log(fit seconds) against log(ratings): "
           f"**{scaling['slope']:.2f}** over all points"
           + (f", {scaling['slope_from_100k']:.2f} from 100k ratings up"
              if scaling["slope_from_100k"] is not None else "") + ".\n",
           "| source | ratings | users | items | fit s | ratings/s |",
           "|---|---:|---:|---:|---:|---:|"]
    out += [f"| {r['source']} | {r['n_ratings']:,} | {r['n_users']:,} | {r['n_items']:,} | "
            f"{r['fit_seconds']:.2f} | {r['ratings_per_second']:,.0f} |"
            for r in scaling["rows"]]
    return [*out, ""]


# results.md's parts in order; a new section adds its writer here.
def _ranking_markdown(results: dict[str, Any]) -> list[str]:
    return ranking_markdown(results.get("ranking"))


MARKDOWN_PARTS = [_accuracy_markdown, _targets_markdown, _speed_markdown, _throughput_markdown,
                  _scaling_markdown, _ranking_markdown]


def plot_time_to_accuracy(timed: list[dict[str, Any]], path: Path) -> None:
    """One panel per listed split: RMSE against median fit seconds, course models and peers."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    listed = [t for t in timed if t["listed"]]
    splits = list(dict.fromkeys(t["split"] for t in listed))
    if not splits:
        return
    fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 3.8), squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        here = [t for t in listed if t["split"] == split]
        for kind, marker in (("course", "o"), ("peer", "s")):
            part = [t for t in here if t["kind"] == kind]
            ax.semilogx([t["median_seconds"] for t in part], [t["rmse"] for t in part], marker,
                        label=kind)
            for t in part:
                ax.annotate(t["model"], (t["median_seconds"], t["rmse"]), fontsize=6)
        ax.set_title(split, fontsize=8)
        ax.set_xlabel("fit seconds (median)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no crowded labels
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("test RMSE")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _scaling_paragraph(scaling: dict[str, Any] | None) -> str:
    """The scaling plot and its slope, for the README (empty when the section did not run)."""
    if not scaling or "slope" not in scaling:
        return ""
    return (
        "\n![MF+bias fit time against the number of ratings](bench/results/scaling.png)\n\n"
        f"Fit time of MF+bias grows about linearly with the number of ratings (log-log slope "
        f"{scaling['slope']:.2f}, from 10 thousand to 10 million ratings).\n"
    )


def update_readme(results: dict[str, Any]) -> str:
    """Rewrite README.md between the leaderboard markers; say what happened."""
    if not README.is_file():
        return "README.md does not exist: leaderboard not written there"
    text = README.read_text()
    if MARK_START not in text or MARK_END not in text:
        return "README.md has no leaderboard markers: left untouched"
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    accuracy = results.get("accuracy", {"rows": []})
    meta = results.get("meta", {})
    body = (
        "\nTest RMSE of every course model and of the libraries people use instead, on the same "
        "splits (lower is better; the best of each column in bold). Hyperparameters were chosen "
        "on a slice of ml-latest-small's training data only and reused everywhere.\n\n"
        + leaderboard_table(accuracy["rows"])
        + _scaling_paragraph(results.get("scaling"))
        + f"\nGenerated by `python bench/run.py` ({meta.get('wall_seconds', 0) / 60:.0f} min on "
        f"{meta.get('machine', 'this machine')}); protocol in [bench/README.md](bench/README.md), "
        "fit times, NDCG@10, the speed ratios, scaling and the targets in "
        "[bench/results/results.md](bench/results/results.md).\n"
    )
    README.write_text(head + MARK_START + body + MARK_END + tail)
    return "README.md leaderboard section rewritten"


