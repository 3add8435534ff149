"""Peak memory of training on a prepared corpus of 1x and 16x PTB, and the speed of prepare.

    python benchmarks/prepare_memory.py [--ptb /work/shared/data/ptb] [--tmp /tmp/rnnlm-bench]

Builds the 16x training text by concatenating ptb.train.txt 16 times into --tmp (never into
the repository), prepares both sizes with the PTB valid/test files, then measures with
``/usr/bin/time -v`` the peak RSS ("Maximum resident set size") of
``rnnlm train PREPARED --max-steps 40 --embed-dim 64 --hidden 64`` on each, and times
``rnnlm prepare`` on a 33x text (~168 MB) against a bare Python loop that reads and splits
its lines.
"""

import argparse
import re
import shutil
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
    args = ap.parse_args()
    tmp, ptb = args.tmp, args.ptb
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    big = tmp / "ptb16.train.txt"
    text = (ptb / "ptb.train.txt").read_bytes()
    with open(big, "wb") as f:
        for _ in range(16):
            f.write(text)
    rnnlm = [sys.executable, "-m", "rnnlm"]
    split_files = ["--valid", str(ptb / "ptb.valid.txt"), "--test", str(ptb / "ptb.test.txt")]
    rows = []
    for name, src in (("1x", ptb / "ptb.train.txt"), ("16x", big)):
        out = tmp / f"prep{name}"
        rss, secs = peak_rss([*rnnlm, "prepare", str(src), "--out", str(out), *split_files])
        rows.append((f"prepare {name} ({src.stat().st_size / 1e6:.0f} MB)", rss, secs))
        rss, secs = peak_rss([*rnnlm, "train", str(out), "--out", str(tmp / f"run{name}"), *TRAIN])
        rows.append((f"train prepared {name}, 40 steps", rss, secs))
    rss, secs = peak_rss([*rnnlm, "train", str(big), *split_files, "--out", str(tmp / "runtext"),
                          *TRAIN])  # fmt: skip
    rows.append(("train 16x text (in memory), 40 steps", rss, secs))
    huge = tmp / "ptb33.train.txt"
    with open(huge, "wb") as f:
        for _ in range(33):
            f.write(text)
    rss, secs = peak_rss([*rnnlm, "prepare", str(huge), "--out", str(tmp / "prep33x"),
                          *split_files])  # fmt: skip
    rows.append((f"prepare 33x ({huge.stat().st_size / 1e6:.0f} MB)", rss, secs))
    loop = bare_loop(huge)
    for label, rss, secs in rows:
        print(f"{label:40s} peak RSS {rss / 1024:8.1f} MiB  {secs:6.1f} s")
    print(f"{'bare read+split loop on 33x':40s} {'':21s}{loop:6.1f} s")
    print(f"prepare 33x / bare loop: {secs / loop:.2f}x")
    r1, r16 = rows[1][1], rows[3][1]
    print(f"train RSS 16x - 1x: {(r16 - r1) / 1024:+.1f} MiB ({(r16 / r1 - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
