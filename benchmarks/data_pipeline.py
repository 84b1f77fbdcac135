"""Data-preparation speed on 1600x1200 webcam JPEGs, per core.

Makes a synthetic archive at the institute's frame size (2 locations x N frames), then times,
with one worker process each (= per core):
- segmentation: `data_prep.segment` over each location's day (frames/s);
- prepare: `data_prep.shards` with the default settings (downscale 4, 128 px crops; frames/s),
next to the in-process baseline of decoding the same JPEGs at full size (what a naive reader
pays before any resize); the ratio shows what reduced-size (DCT-domain) decoding buys.

    .venv/bin/python benchmarks/data_pipeline.py [--frames 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_prep import segment, shards  # noqa: E402
from data_prep.demo_archive import write_archive  # noqa: E402


def prep_cfg(name: str, **values):
    cfg = OmegaConf.load(ROOT / f"conf/prep/{name}.yaml")
    cfg.pop("defaults"), cfg.pop("hydra")
    for key, value in values.items():
        cfg[key] = value
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="frames per location (2 locations)")
    parser.add_argument("--keep", help="reuse/keep the synthetic archive in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        archive = root / "archive"
        write_archive(archive, locations=2, frames=args.frames, width=1600, height=1200, progress=False)
        frames = sorted(archive.glob("cam*/*/*.jpg"))
        print(f"{len(frames)} frames of 1600x1200 in {archive}")

        start = time.perf_counter()
        for path in frames:
            np.asarray(Image.open(path).convert("RGB"))
        full_decode = len(frames) / (time.perf_counter() - start)

        start = time.perf_counter()
        segment.run(
            prep_cfg("segment", archive=str(archive), out=str(root / "masks"), workers=1, force=True, progress=False)
        )
        segmented = len(frames) / (time.perf_counter() - start)

        start = time.perf_counter()
        manifest = shards.run(
            prep_cfg(
                "shards",
                source=str(archive),
                out=str(root / "shards"),
                masks=str(root / "masks"),
                workers=1,
                force=True,
                progress=False,
            )
        )
        prepared = manifest["counts"]["frames_seen"] / (time.perf_counter() - start)

    print(f"{'stage':40s} {'frames/s per core':>18s} {'vs full decode':>15s}")
    print(f"{'baseline: full-size JPEG decode only':40s} {full_decode:18.1f} {1.0:15.2f}")
    print(f"{'segmentation (100-frame day, 2 locations)':40s} {segmented:18.1f} {segmented / full_decode:15.2f}")
    print(f"{'prepare (crops, filters, shards)':40s} {prepared:18.1f} {prepared / full_decode:15.2f}")
    print(f"counts: {manifest['counts']}")


if __name__ == "__main__":
    main()
