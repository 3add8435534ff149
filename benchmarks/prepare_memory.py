"""Peak memory of training on a prepared corpus of 1x and 16x PTB, and the speed of prepare.

    python benchmarks/prepare_memory.py [--ptb /work/shared/data/ptb] [--tmp /tmp/rnnlm-bench]
                                        [--runs 3]

Builds the 16x and 33x (~168 MB) training texts by concatenating ptb.train.txt into --tmp
(never into the repository) and prepares 1x and 16x with the PTB valid/test files. Then, --runs
times each, one command at a time and alternating, it times ``rnnlm prepare`` on the 33x text
against a bare Python loop that reads and splits the same lines (target: at most 2.5x), and
measures with ``/usr/bin/time -v`` the peak RSS ("Maximum resident set size") of
``rnnlm train PREPARED --max-steps 40 --embed-dim 64 --hidden 64`` on 1x and on 16x (target:
16x within 10% + 50 MB of 1x). Prints the medians and the load average before and after.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TRAIN = ["--max-steps", "40", "--embed-dim", "64", "--hidden", "64"]


def peak_rss(cmd: list[str]) -> tuple[int, float]:
    """(peak RSS in KiB, seconds) of a command run under /usr/bin/time -v."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)[1]), seconds


def bare_loop(path: Path) -> float:
    """Seconds for the least a tokeniser must do: read the lines and split them."""
    code = (
        "import sys\nn = 0\n"
        "with open(sys.argv[1], encoding='utf-8') as f:\n"
        "    for line in f:\n        n += len(line.split()) + 1\n"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ptb", type=Path, default=Path("/work/shared/data/ptb"))
    ap.add_argument("--tmp", type=Path, default=Path("/tmp/rnnlm-bench"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp, ptb = args.tmp, args.ptb
    load_before = os.getloadavg()
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    text = (ptb / "ptb.train.txt").read_bytes()
    big, huge = tmp / "ptb16.train.txt", tmp / "ptb33.train.txt"
    for path, copies in ((big, 16), (huge, 33)):
        with open(path, "wb") as f:
            for _ in range(copies):
                f.write(text)
    rnnlm = [sys.executable, "-m", "rnnlm"]
    split_files = ["--valid", str(ptb / "ptb.valid.txt"), "--test", str(ptb / "ptb.test.txt")]
    rows = []
    for name, src in (("1x", ptb / "ptb.train.txt"), ("16x", big)):
        rss, secs = peak_rss([*rnnlm, "prepare", str(src), "--out", str(tmp / f"prep{name}"),
                              *split_files])  # fmt: skip
        rows.append((f"prepare {name} ({src.stat().st_size / 1e6:.0f} MB)", rss, secs))
    rss, secs = peak_rss([*rnnlm, "train", str(big), *split_files, "--out", str(tmp / "runtext"),
                          *TRAIN])  # fmt: skip
    rows.append(("train 16x text (in memory), 40 steps", rss, secs))
    loops, prepares, trains = [], [], {"1x": [], "16x": []}
    for _ in range(args.runs):
        loops.append(bare_loop(huge))
        _, secs = peak_rss([*rnnlm, "prepare", str(huge), "--out", str(tmp / "prep33x"),
                            "--force", *split_files])  # fmt: skip
        prepares.append(secs)
    for _ in range(args.runs):
        for name in trains:
            run_dir = tmp / f"run{name}"
            shutil.rmtree(run_dir, ignore_errors=True)
            rss, _ = peak_rss([*rnnlm, "train", str(tmp / f"prep{name}"), "--out", str(run_dir),
                               *TRAIN])  # fmt: skip
            trains[name].append(rss)
    for label, rss, secs in rows:
        print(f"{label:40s} peak RSS {rss / 1024:8.1f} MiB  {secs:6.1f} s")
    loop, prep = statistics.median(loops), statistics.median(prepares)
    print(f"bare read+split loop on 33x ({huge.stat().st_size / 1e6:.0f} MB): "
          f"{_runs(loops)} s, median {loop:.2f} s")  # fmt: skip
    print(f"rnnlm prepare on 33x: {_runs(prepares)} s, median {prep:.2f} s")
    print(f"prepare 33x / bare loop: {prep / loop:.2f}x (target <= 2.5x)")
    r1, r16 = statistics.median(trains["1x"]), statistics.median(trains["16x"])
    for name, values in trains.items():
        print(f"train prepared {name}, 40 steps, peak RSS: {_runs(v / 1024 for v in values)} MiB")
    print(f"train RSS 16x - 1x (medians): {(r16 - r1) / 1024:+.1f} MiB "
          f"({(r16 / r1 - 1) * 100:+.1f}%; target <= +10% + 50 MB)")  # fmt: skip
    print(f"load average before {_runs(load_before)}, after {_runs(os.getloadavg())}")


def _runs(values) -> str:
    return " ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
