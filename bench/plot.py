"""Draw the sync bench's figures: `python bench/plot.py sync.json [-o docs/images/bench-sync.png]`.

Three panels from one `bench/run.py sync` JSON document: files/s of the small-file cases (ferry beside rclone),
MB/s of the big-file cases (ferry beside rclone, the loopback HTTP limit and the disk's own floor), and the CPU
seconds each side spent on the same transfers (ferry's daemon and server; rclone and SeaweedFS behind it), with
how many cores each kept busy: on a 2-core machine that says whether a figure is bound by work or by waiting.
Cases missing from the JSON (or older documents without the CPU figures) are left out. matplotlib with the Agg
backend, so it runs without a display.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "bench-sync.png"

# (case key, label (formatted with the run's sizes), {series: figure key})
FILES_PER_S = [
    ("small_files", "{small_files:,} × 4 KiB up", {"ferry": "ferry_files_per_s", "rclone": "rclone_files_per_s"}),
    ("small_files_down", "{small_files:,} × 4 KiB down",
     {"ferry": "ferry_files_per_s", "rclone": "rclone_files_per_s", "disk floor": "disk_create_floor_files_per_s"}),
    ("idle_restart", "first sync,\n{idle_files:,} × 32 B", {"ferry": "initial_files_per_s"}),
    ("scale", "first sync,\n{scale_files:,} × 32 B", {"ferry": "first_sync_files_per_s"}),
]
MB_PER_S = [
    ("big_file", "{big_mib} MiB up",
     {"ferry": "ferry_MBps", "rclone": "rclone_MBps", "loopback limit": "loopback_http_put_MBps",
      "disk floor": "disk_fsynced_blocks_MBps"}),
    ("big_file_down", "{big_mib} MiB down",
     {"ferry": "ferry_MBps", "rclone": "rclone_MBps", "loopback limit": "loopback_http_get_MBps",
      "disk floor": "disk_durable_write_MBps"}),
]
# "disk floor": what this disk alone costs for the same bytes (files created by one thread; blocks or the file
# written and fsynced): no network and no hashing, so a ceiling no sync tool reaches, beside the loopback one.
COLORS = {"ferry": "#1f77b4", "rclone": "#ff7f0e", "loopback limit": "#9a9a9a", "disk floor": "#2ca02c"}


def _panel(ax: Any, doc: dict[str, Any], spec: list[tuple[str, str, dict[str, str]]], unit: str) -> None:
    sizes = dict(doc.get("sizes", {}))
    sizes["big_mib"] = int(sizes.get("big_bytes", 0)) // (1024 * 1024)
    rows = [(doc[case], label.format_map(sizes), keys) for case, label, keys in spec if case in doc]
    series = [s for s in COLORS if any(s in keys for _, _, keys in rows)]
    width = 0.8 / max(1, len(series))
    for i, s in enumerate(series):
        xs, ys = [], []
        for x, (fig, _, keys) in enumerate(rows):
            if s in keys and fig.get(keys[s]) is not None:
                xs.append(x + (i - (len(series) - 1) / 2) * width)
                ys.append(float(fig[keys[s]]))
        bars = ax.bar(xs, ys, width, label=s, color=COLORS[s])
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(rows)), [label for _, label, _ in rows], fontsize=8)
    ax.set_ylabel(unit)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


CPU_CASES = [("small_files", "4 KiB up"), ("small_files_down", "4 KiB down"), ("big_file", "{big_mib} MiB up"),
             ("big_file_down", "{big_mib} MiB down")]


def _cpu_panel(ax: Any, doc: dict[str, Any]) -> None:
    """CPU seconds a side spent on each transfer case, the cores it kept busy on the bar (lower is better)."""
    big_mib = int(doc.get("sizes", {}).get("big_bytes", 0)) // (1024 * 1024)
    rows = [(doc[c], label.format(big_mib=big_mib)) for c, label in CPU_CASES
            if "ferry_cpu" in doc.get(c, {}) and "rclone_cpu" in doc.get(c, {})]
    sides = (("ferry", "ferry_cpu", ("daemon_cpu_s", "server_cpu_s")),
             ("rclone", "rclone_cpu", ("rclone_cpu_s", "seaweedfs_cpu_s")))
    width = 0.4
    for i, (side, key, parts) in enumerate(sides):
        xs = [x + (i - 0.5) * width for x in range(len(rows))]
        ys = [sum(float(fig[key].get(p, 0.0)) for p in parts) for fig, _ in rows]
        bars = ax.bar(xs, ys, width, label=side, color=COLORS[side])
        ax.bar_label(bars, labels=[f"{y:.1f}\n×{fig[key]['cores_busy']:.2f}" for y, (fig, _) in zip(ys, rows,
                                                                                                   strict=True)],
                     fontsize=6)
    ax.set_xticks(range(len(rows)), [label for _, label in rows], fontsize=7)
    ax.set_ylabel("CPU-s (bar: cores busy)")
    ax.set_title("CPU spent: lower is better", fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot(doc: dict[str, Any], out: Path) -> None:
    with_cpu = any("ferry_cpu" in doc.get(c, {}) for c, _ in CPU_CASES)
    fig, axes = plt.subplots(1, 3 if with_cpu else 2, figsize=(16 if with_cpu else 11, 4),
                             gridspec_kw={"width_ratios": [5, 2, 3] if with_cpu else [4, 2]})
    _panel(axes[0], doc, FILES_PER_S, "files/s")
    _panel(axes[1], doc, MB_PER_S, "MB/s")
    if with_cpu:
        _cpu_panel(axes[2], doc)
    load = doc.get("loadavg_1min_at_start")
    fig.suptitle(f"ferry sync bench ({doc.get('cpus')} CPUs, load {load} at start"
                 f"{', quick sizes' if doc.get('quick') else ''}): speeds, higher is better", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="plot", description="Plot a sync bench JSON document as a PNG.")
    p.add_argument("json", type=Path, help="the output of `python bench/run.py sync`")
    p.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help=f"the PNG to write (default {DEFAULT_OUT})")
    args = p.parse_args(argv)
    try:
        doc = json.loads(args.json.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        p.error(f"cannot read {args.json}: {exc}")
    if doc.get("suite") != "sync":
        p.error(f"{args.json} is not a sync bench document (suite: {doc.get('suite')!r})")
    plot(doc, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
