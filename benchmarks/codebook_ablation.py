"""What keeps the tokenizer's codebook alive: short identical trainings that differ only there.

Each variant is trained with the real framework (`python -m skysynth.train model=vqvae
experiment=gcd_vqvae`, shortened) and evaluated on the validation split
(`python -m skysynth.eval task=vqvae`): codebook usage, perplexity, PSNR, SSIM. The baseline in
the same run is the thesis's recipe (revival loss only).

    .venv/bin/python benchmarks/codebook_ablation.py [--steps 300] [--crop 32] [--parallel 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = {
    "no measure": ["model.lit.dead_code_restart=false", "model.lit.net.revival_weight=0"],
    "revival loss (thesis)": ["model.lit.dead_code_restart=false"],
    "revival + dead-code restart (bundled)": [],
    "l2-normalised lookup + revival + restart": ["model.lit.net.l2_normalized=true"],
    "k-means init + revival + restart": ["model.lit.kmeans_init=true"],
    # With EMA updates the codebook takes no gradient, so the revival loss has nothing to move.
    "EMA codebook + restart": ["model.lit.net.codebook_update=ema"],
    "EMA codebook + k-means init + restart": ["model.lit.net.codebook_update=ema", "model.lit.kmeans_init=true"],
    "EMA codebook, no restart": ["model.lit.net.codebook_update=ema", "model.lit.dead_code_restart=false"],
}


def run(name: str, overrides: list[str], args) -> dict:
    run_dir = ROOT / "runs" / "ablation" / re.sub(r"[^A-Za-z0-9]+", "_", name.split(" (")[0]).strip("_")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    train = [
        sys.executable,
        "-m",
        "skysynth.train",
        "model=vqvae",
        "experiment=gcd_vqvae",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
        f"trainer.max_steps={args.steps}",
        f"data.crop_size={args.crop}",
        "trainer.enable_progress_bar=false",
        "model.lit.grid_every_n_steps=0",
        *overrides,
    ]
    done = subprocess.run(train, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{name}: training failed: {done.stderr.strip().splitlines()[-1:]}")
    seconds = time.perf_counter() - start
    evaluate = [
        sys.executable,
        "-m",
        "skysynth.eval",
        "task=vqvae",
        f"weights={run_dir / 'export'}",
        "n=1000",
        f"out={run_dir / 'eval'}",
        "progress=false",
    ]
    subprocess.run(evaluate, cwd=ROOT, env=env, check=True, capture_output=True)
    report = json.loads((run_dir / "eval" / "report.json").read_text())["results"]["vqvae"]
    return {"variant": name, "train_s": seconds, **report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with ThreadPoolExecutor(args.parallel) as pool:
        rows = list(pool.map(lambda item: run(item[0], item[1], args), VARIANTS.items()))
    base = next(r for r in rows if r["variant"].startswith("revival loss"))
    print(f"{args.steps} steps, batch 32, {args.crop}px crops at half scale; validation 445 photos at 112px")
    print("| variant | codebook usage | perplexity | PSNR dB | SSIM | PSNR vs thesis | train s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['codebook_usage']:.1%} | {r['perplexity']:.1f} | {r['psnr']:.2f} | "
            f"{r['ssim']:.4f} | {r['psnr'] - base['psnr']:+.2f} dB | {r['train_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
