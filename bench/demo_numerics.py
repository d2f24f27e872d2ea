"""Issue 24: which of the demo's numbers move with the OLS truncation path, and by how much.

Simulates a demo sample (`python -m daudit simulate`, default 3000/600/600 spectra x 4096 pixels,
seed 42), runs LOGG-ERR-BASE-01's spec on it with the code of ``--base`` and with this checkout
(LightGBM on, the sanity checks off: the linear family is what changed), and writes a Markdown
comparison: every (noise level, model) row present in both with its largest difference, and the
rows only this checkout has (the path's steps), with the gate of each.

    python bench/demo_numerics.py --base e846696 [--rows 3000 600 600] [--out bench/demo_numerics_RESULTS.md]
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from before_after import run_daudit  # noqa: E402

COLS = ["train_r2", "val_r2", "test_r2", "test_mae", "test_rmse"]


def _spec(data: Path, out: Path) -> Path:
    text = (ROOT.parent / "pipelines" / "logg_err_base_01.yaml").read_text()
    text = text.replace("../data_cache/demo/", f"{data}/")
    text = text.replace('output_dir: "../results/LOGG-ERR-BASE-01"', f'output_dir: "{out}"')
    text += "\nsanity:\n  enabled: false\n"
    path = data / "spec.yaml"
    path.write_text(text)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--rows", type=int, nargs=3, default=[3000, 600, 600])
    ap.add_argument("--out", default=str(ROOT / "demo_numerics_RESULTS.md"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="daudit-demo-num-"))
    atexit.register(shutil.rmtree, tmp, True)
    base = tmp / "base"
    base.mkdir()
    archive = subprocess.run(["git", "archive", args.base], cwd=ROOT.parent, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
    data = tmp / "data"
    tr, va, te = args.rows
    subprocess.run([sys.executable, "-m", "daudit", "simulate", "--out", str(data), "--train", str(tr), "--val",
                    str(va), "--test", str(te), "--quiet"], cwd=ROOT.parent, check=True)
    spec = _spec(data, tmp / "unused")
    s0, m0, w0 = run_daudit(base, spec, tmp / "before", tmp / "cache0")
    s1, m1, w1 = run_daudit(ROOT.parent, spec, tmp / "after", tmp / "cache1")
    k0 = m0.set_index(["noise_level", "model"])
    k1 = m1.set_index(["noise_level", "model"])
    lines = [f"# Demo sample {tr}/{va}/{te} x {s1['data']['n_pixels']}: before ({args.base}) and after (this checkout)",
             "", "LOGG-ERR-BASE-01's spec on `daudit simulate --train {0} --val {1} --test {2}` (seed 42), LightGBM on, "
             "sanity checks off; one run each, same machine, same moment "
             f"(wall: before {w0:.0f} s, after {w1:.0f} s).".format(tr, va, te), "",
             f"Gate-1: before {s0['gate']['verdict']} {s0['gate']['best_test_r2']:.6f} ({s0['gate']['best_model']}); "
             f"after {s1['gate']['verdict']} {s1['gate']['best_test_r2']:.6f} ({s1['gate']['best_model']}).", "",
             "| noise level | model | in | before test R2 | after test R2 | largest |change| over "
             + ", ".join(COLS) + " | resolved rank before -> after |", "|---|---|---|---|---|---|---|"]
    for key in list(dict.fromkeys([*k0.index, *k1.index])):
        a = k0.loc[key] if key in k0.index else None
        b = k1.loc[key] if key in k1.index else None
        where = "both" if a is not None and b is not None else ("before" if a is not None else "after")
        diff = (float(np.nanmax(np.abs(a[COLS].to_numpy(float) - b[COLS].to_numpy(float))))
                if where == "both" else float("nan"))
        rank = lambda r: "-" if r is None or r["resolved_rank"] != r["resolved_rank"] else str(int(r["resolved_rank"]))  # noqa: E731
        lines.append(f"| {key[0]:g} | {key[1]} | {where} | {'' if a is None else f'{a.test_r2:.6f}'} | "
                     f"{'' if b is None else f'{b.test_r2:.6f}'} | {diff:.3g} | {rank(a)} -> {rank(b)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
