"""The profiles ``bench/profiled_worker.py`` wrote, merged: where the jobs and the channels loop spent their time.

    .venv/bin/python bench/profile_summary.py DIR [--top 30] [--sort cumulative|tottime]
"""

from __future__ import annotations

import argparse
import pstats
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    args = parser.parse_args()
    for kind in ("job", "loop"):
        files = sorted(args.folder.glob(f"{kind}-*.prof"))
        if not files:
            continue
        stats = pstats.Stats(*map(str, files))
        stats.files = []  # not one header line per file
        print(f"=== {kind}: {len(files)} profiles, {stats.total_tt:.2f} s in all ===")
        stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
