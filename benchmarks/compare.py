"""Two source trees of syncstats, side by side on bench.py's full-size inputs.

Runs only syncstats' own measurement of each workload (bench.py's ``--child``), for a
*before* and an *after* tree in rotation (before, after; then after, before; ...), so
both see the same machine load, and prints the medians and the ratio after/before.
The inputs must exist already (``bench.py --workdir DIR`` made them)::

    .venv/bin/python benchmarks/compare.py --before /path/to/old/checkout \\
        --after . --workdir /work/ssbench [--reps 3] [--only jsonl log ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="the older source tree (a checkout)")
    ap.add_argument("--after", required=True, help="the newer source tree")
    ap.add_argument("--workdir", required=True, help="bench.py's --workdir (inputs kept there)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="the quick inputs")
    ap.add_argument("--only", nargs="+", choices=bench.WORKLOADS)
    args = ap.parse_args()
    scale = "quick" if args.quick else "full"
    root = Path(args.workdir) / scale
    trees = {"before": str(Path(args.before).resolve()), "after": str(Path(args.after).resolve())}
    selected = args.only or list(bench.WORKLOADS)
    rows = []
    for wl in selected:
        base = "log" if wl.startswith("log") else wl
        n = bench.FULL_SIZES[base] // (bench.QUICK_DIVISOR if args.quick else 1)
        manifest = bench.prepare(wl, root, n)
        if not manifest.get("reused"):
            print(f"note: {wl} inputs were generated now", file=sys.stderr)
        bench.warm(Path(manifest["input"]))
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for rep in range(args.reps):
            order = ("before", "after") if rep % 2 == 0 else ("after", "before")
            for side in order:
                os.environ["PYTHONPATH"] = trees[side]
                r = bench.run_child(wl, "syncstats", manifest)
                if r.get("failed"):
                    print(f"{wl}/{side} failed:\n{r['stderr_tail']}", file=sys.stderr)
                    return 1
                runs[side].append(r)
                print(f"  {wl:12s} {side:6s} {r['seconds']:7.2f} s  cpu {r['cpu_seconds']:7.2f} s"
                      f"  peak {r['peak_rss_mb']:7.0f} MB"
                      f"  sources {r.get('syncstats_fingerprint')}",
                      file=sys.stderr)
        med = {side: {k: statistics.median(x[k] for x in rs)
                      for k in ("seconds", "cpu_seconds", "peak_rss_mb")}
               for side, rs in runs.items()}
        rows.append((wl, med["before"], med["after"]))
    print(f"\nsyncstats before vs after ({scale} size, median of {args.reps} alternating runs)\n")
    print("| workload | before s | after s | after/before | before CPU s | after CPU s | "
          "CPU after/before | before RSS MB | after RSS MB |")
    print("|:--|--:|--:|--:|--:|--:|--:|--:|--:|")
    for wl, b, a in rows:
        print(f"| {wl} | {b['seconds']:.2f} | {a['seconds']:.2f} | "
              f"{a['seconds'] / b['seconds']:.2f} | {b['cpu_seconds']:.2f} | "
              f"{a['cpu_seconds']:.2f} | {a['cpu_seconds'] / b['cpu_seconds']:.2f} | "
              f"{b['peak_rss_mb']:.0f} | {a['peak_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
