"""Peak RSS of a command's whole process tree, sampled every 30 ms from outside.

    python bench/rss_trace.py LOG -- python -m daudit run --memory-limit 1GB --output-dir out

Prints the peak (GiB = 2^30 bytes), when it happened, and the samples within 0.06 GiB of it with
the processes then alive and the last line of LOG (the run's live log, e.g. ``out.log``), so a
peak can be tied to a stage. The run's own monitor samples every 50 ms from inside; this one
checks it from outside (bench/RESULTS.md, "memory_limit 1GB").
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
        return lines[-1].decode(errors="replace")[:110] if lines else ""
    except OSError:
        return ""


def _sample(root: psutil.Process) -> list:
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    out = []
    for q in procs:
        try:
            out.append((q.name(), q.memory_info().rss / 2**30))
        except psutil.Error:
            pass  # it ended between listing and reading
    return out


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: python bench/rss_trace.py LOG -- COMMAND ...")
    log, cmd = sys.argv[1], sys.argv[3:]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root, t0, trace = psutil.Process(proc.pid), time.time(), []
    while proc.poll() is None:
        parts = _sample(root)
        total = sum(r for _, r in parts)
        trace.append((time.time() - t0, total, parts, _last_line(log) if total > 0.85 else ""))
        time.sleep(0.03)
    if not trace:
        sys.exit(f"the command ended before the first sample (exit {proc.returncode})")
    peak = max(trace, key=lambda t: t[1])
    print(f"exit {proc.returncode}; peak {peak[1]:.3f} GiB at {peak[0]:.1f} s; {len(trace)} samples over "
          f"{trace[-1][0]:.0f} s")
    for t, total, parts, line in [s for s in trace if s[1] > peak[1] - 0.06][:25]:
        print(f"{t:8.2f} {total:.3f} {[(n, round(r, 3)) for n, r in parts]} | {line}")


if __name__ == "__main__":
    main()
