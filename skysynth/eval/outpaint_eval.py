"""Outpainting evaluation (DESIGN.md protocol): hide part of real photos, outpaint, compare.

Protocols: `center` keeps the middle half of each side; `left`/`right`/`top`/`bottom` grow that
side, keeping the opposite half. For skysynth and each baseline: KID (+- spread) and FID on
cloud-classifier features, SWD on Laplacian-pyramid patches of the generated area, low-frequency
L1 there, seam score across the input's border (1.0 = like the truth's step on that line; "seam
local": like the truth's step on the lines beside it, free of JPEG block edges), collapse rate,
input preservation, seconds per image; plus a real-vs-real floor from two disjoint halves of the truths.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import kornia
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from skysynth.common.images import is_image, save_grid, to_rgb
from skysynth.common.keys import is_validation, sample_key
from skysynth.common.threads import use_threads
from skysynth.eval.baselines import BASELINES, fill, missing
from skysynth.eval.c2st import C2STConfig, border_crops, two_sample_test
from skysynth.eval.common import markdown_table, weights_dir
from skysynth.eval.quality import collapse_rate, seam_score
from skysynth.eval.realism import FeatureDistances, swd_per_level
from skysynth.flatness import luminance_std
from skysynth.models.classifier import CloudClassifier

PROTOCOLS = ("center", "left", "right", "top", "bottom", "wide", "small")
# Truths by luminance std (whole photo): clear or overcast, hazy, structured.
# Lines either side of the input's border whose step in the truth is the local seam yardstick.
SEAM_BESIDE = 2
FLATNESS_BANDS = {"std < 0.02": (0.0, 0.02), "0.02-0.05": (0.02, 0.05), "std > 0.05": (0.05, float("inf"))}


def protocol_box(protocol: str, size: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the kept input inside a size x size truth.

    `left`/`right`/`top`/`bottom` grow that side (the opposite half is kept); `wide` keeps the
    middle third of the width and grows 3x sideways; `small` keeps the central quarter of each
    side (56x56 of 224) and grows 4x each way, where mirroring degenerates."""
    q, h, t, e = size // 4, size // 2, size // 3, size // 8
    boxes = {
        "center": (q, q, q + h, q + h),
        "left": (h, 0, size, size),
        "right": (0, 0, h, size),
        "top": (0, h, size, size),
        "bottom": (0, 0, size, h),
        "wide": (t, 0, size - t, size),
        "small": (3 * e, 3 * e, 5 * e, 5 * e),
    }
    if protocol not in boxes:
        raise ValueError(f"unknown protocol {protocol!r}: choose from {', '.join(PROTOCOLS)}")
    return boxes[protocol]


def photo_split(root: Path, files: list[Path], val_fraction: float) -> list[Path]:
    """The photos of a folder that the shards' key hash puts in validation: the training runs'
    own validation photos, monochrome ones included (the training filter drops those)."""
    chosen = []
    for path in files:
        parts = path.relative_to(root).parts
        location = parts[0] if len(parts) > 1 else root.name
        if is_validation(sample_key(location, path, 0), val_fraction):
            chosen.append(path)
    return chosen


def load_truths(
    data: str, n: int, size: int, val_fraction: float, seed: int, split: str = "validation"
) -> torch.Tensor:
    """(N, 3, size, size) in [0, 1]: a shard folder's validation split, or a folder of photos
    (centre square, resized): its validation photos by key hash (`split="validation"`) or all."""
    root = Path(data)
    if not root.exists():
        raise FileNotFoundError(f"data not found: {root}")
    if list(root.glob("*.tar")):
        from omegaconf import OmegaConf

        from skysynth.eval.common import validation_batches

        cfg = OmegaConf.create(
            {"data": data, "batch": 32, "n": 10**9, "val_fraction": val_fraction, "seed": seed, "device": "cpu"}
        )
        # Shards keep the photo folder's order (grouped by cloud class): a seeded random sample
        # of the whole validation split, not its first n photos, so every class is represented.
        everything = torch.cat(list(validation_batches(cfg, 224 / size, size)))
        pick = np.random.default_rng(seed).permutation(len(everything))[:n]
        return everything[torch.from_numpy(np.sort(pick))]
    files = sorted(p for p in root.rglob("*") if is_image(p))
    if not files:
        raise ValueError(f"no images in {root}")
    if split not in ("validation", "all"):
        raise ValueError(f"split must be validation or all, got {split!r}")
    if split == "validation":
        files = photo_split(root, files, val_fraction)
        if not files:
            raise ValueError(f"no photo of {root} falls in the validation split (val_fraction={val_fraction})")
    rng = np.random.default_rng(seed)
    files = [files[i] for i in sorted(rng.permutation(len(files))[:n])]
    images = []
    for path in files:
        with Image.open(path) as image:
            image = to_rgb(image)
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
            images.append(torch.from_numpy(np.array(image)).permute(2, 0, 1))
    return torch.stack(images).float() / 255


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def evaluate_outputs(outputs, truths, box, features: FeatureDistances, seed: int) -> dict:
    size = truths.shape[-1]
    left, top, right, bottom = box
    region = generated_region(box, size)
    lf = lf_l1_per_image(outputs, truths, region).mean()
    seams, seams_local = [], []
    for axis, lines in (
        ("x", [p for p in (left, right) if 0 < p < size]),
        ("y", [p for p in (top, bottom) if 0 < p < size]),
    ):
        if lines:
            seams.append(seam_score(outputs, lines, axis, reference=truths))
            seams_local.append(seam_score(outputs, lines, axis, reference=truths, beside=SEAM_BESIDE))
    kept = outputs[..., top:bottom, left:right]
    preserved = (to_uint8_batch(kept) == to_uint8_batch(truths[..., top:bottom, left:right])).flatten(1).all(1)
    return {
        **features(outputs, truths),
        **_swd_columns(outputs, truths, region, seed),
        "lf_l1": float(lf),
        "seam": sum(seams) / len(seams),
        "seam_local": sum(seams_local) / len(seams_local),
        "collapse": collapse_rate(outputs, truths, region),
        "input_preserved": float(preserved.float().mean()),
    }


def _swd_columns(fake, real, region, seed: int) -> dict[str, float]:
    """SWD and its two levels: the finest band (pixel grain) and the low-pass residual (the
    half-size image's colours and shapes), so a report shows which scale a method loses at."""
    fine, low = swd_per_level(fake, real, region, levels=2, seed=seed)
    return {"swd": (fine + low) / 2, "swd_fine": fine, "swd_low": low}


def to_uint8_batch(images: torch.Tensor) -> torch.Tensor:
    return (images * 255 + 0.5).clamp(0, 255).to(torch.uint8)


def evaluate(cfg) -> dict:
    from skysynth.outpaint.config import to_config
    from skysynth.outpaint.pipeline import Outpainter

    size = int(cfg.get("size") or 224)
    protocol = cfg.get("protocol") or "center"
    box = protocol_box(protocol, size)
    truths = load_truths(cfg.data, int(cfg.n), size, cfg.val_fraction, int(cfg.seed), cfg.get("split", "validation"))
    if len(truths) < 4:
        raise ValueError(f"need at least 4 images, found {len(truths)}")
    classifier = CloudClassifier.from_pretrained(weights_dir(cfg.get("classifier"), "classifier"))
    # KID's expectation does not depend on the subset size, its spread does: subsets of a third of
    # the photos (148 of 445) rather than 50 (sessions 1-11) make the spread between runs smaller.
    subset_size = max(min(50, len(truths) // 2), len(truths) // 3)
    features = FeatureDistances(classifier, subset_size=subset_size, subsets=100, seed=int(cfg.seed))
    left, top, right, bottom = box
    pad = (left, top, size - right, size - bottom)
    op = Outpainter.from_pretrained(cfg.get("weights"), config=to_config(cfg), device=cfg.device)
    methods = ["skysynth"]
    for name in cfg.get("baselines") or []:
        reason = missing(name)
        if reason is None:
            methods.append(name)
        elif name not in BASELINES:
            raise ValueError(reason)
        else:
            print(reason, file=sys.stderr)  # an optional peer that is not installed: the run goes on
    outputs = {m: [] for m in methods}
    seconds = {m: 0.0 for m in methods}
    for i, truth in enumerate(tqdm(truths, desc=f"outpaint ({protocol})", unit="img", disable=not cfg.progress)):
        known = to_uint8(truth)[top:bottom, left:right]
        use_threads(cfg.threads)  # per image: the machine's load changes during a long run
        for method in methods:
            start = time.perf_counter()
            if method == "skysynth":
                generator = torch.Generator(device=cfg.device).manual_seed(int(cfg.seed) * 100003 + i)
                result = np.array(op(Image.fromarray(known), pad=pad, generator=generator).image)  # writable
            else:
                result = fill(method, known, pad)
            seconds[method] += time.perf_counter() - start
            outputs[method].append(torch.from_numpy(np.ascontiguousarray(result)).permute(2, 0, 1).float() / 255)
    results, bands, page_figures = {}, {}, {}
    flatness = luminance_std(truths)
    c2st = C2STConfig(folds=int(cfg.get("c2st_folds", 5)), steps=int(cfg.get("c2st_steps", 300)))
    seam_crop, whole_size = int(cfg.get("c2st_seam_crop", 96)), cfg.get("c2st_size")
    for method in tqdm(methods, desc="realism measures", unit="method", disable=not cfg.progress):
        stacked = torch.stack(outputs[method])
        results[method] = evaluate_outputs(stacked, truths, box, features, int(cfg.seed))
        results[method]["seconds_per_image"] = seconds[method] / len(truths)
        if cfg.get("c2st", True):
            tests = realism_tests(stacked, truths, box, c2st, seam_crop, int(cfg.seed), whole_size)
            per_pair = tests.pop("per_pair")
            page_figures[method] = {"flagged": tests.pop("flagged").float()}
            results[method].update(tests)
            bands[method] = band_rows(stacked, truths, box, flatness, per_pair)
    # Two disjoint random halves (not first vs second: the data are ordered by class).
    halves = torch.randperm(len(truths), generator=torch.Generator().manual_seed(int(cfg.seed)))
    half = len(truths) // 2
    first, second = truths[halves[:half]], truths[halves[half : 2 * half]]
    floor_region = generated_region(box, size)
    results["real vs real (floor)"] = {
        **features(first, second),
        **_swd_columns(first, second, floor_region, int(cfg.seed)),
    }
    if cfg.get("c2st", True):
        floor = realism_tests(second, first, box, c2st, seam_crop, int(cfg.seed), whole_size)
        floor.pop("per_pair"), floor.pop("flagged")
        results["real vs real (floor)"].update(floor)
    out = Path(cfg.out)
    page = _side_by_side(out, protocol, truths, outputs, results, page_figures, box, flatness)
    rows_grid = [truths[:6] * input_mask(box, size)] + [torch.stack(outputs[m][:6]) for m in methods[1:]]
    rows_grid += [torch.stack(outputs["skysynth"][:6]), truths[:6]]
    grid = save_grid(rows_grid, out / f"grid_{protocol}.png")
    plot = _plot(results, out / f"metrics_{protocol}.png")
    table = markdown_table(
        ["method"] + list(_REPORT_COLUMNS.values()),
        [[m] + [r.get(key, "-") for key in _REPORT_COLUMNS] for m, r in results.items()],
    )
    if bands:
        counts = {band: int(((flatness >= lo) & (flatness < hi)).sum()) for band, (lo, hi) in FLATNESS_BANDS.items()}
        header = ["method"] + [f"{band} (n={counts[band]}) {c}" for band in FLATNESS_BANDS for c in _BAND_COLUMNS]
        rows = [[m] + [bands[m][band].get(c, "-") for band in FLATNESS_BANDS for c in _BAND_COLUMNS] for m in bands]
        table += "\n\nBy the truth's flatness (luminance std of the whole photo):\n\n" + markdown_table(header, rows)
    return {
        "protocol": protocol,
        "images": len(truths),
        "results": results,
        "bands": bands,
        "grid": str(grid),
        "plot": str(plot),
        "page": str(page),
        "table": table,
        "grid_rows": "input | " + " | ".join(methods[1:]) + " | skysynth | truth",
    }


def realism_tests(
    outputs, truths, box, config: C2STConfig, seam_crop: int, seed: int, whole_size: int | None = None
) -> dict:
    """Two-sample classifier tests: whole images (resized to `whole_size` first where given: a
    cheaper budget, at the cost of fine detail), and full-resolution crops centred on the input's
    border (the same places in a truth and in its output)."""

    def small(images):
        if not whole_size or whole_size == images.shape[-1]:
            return images
        size = (whole_size, whole_size)
        return kornia.geometry.transform.resize(images, size, interpolation="bilinear", antialias=True)

    whole = two_sample_test(small(truths), small(outputs), config, seed=seed)
    crop = min(seam_crop, truths.shape[-1])
    crops = [border_crops(x, box, crop, 2, torch.Generator().manual_seed(seed)) for x in (truths, outputs)]
    seam = two_sample_test(*crops, config, seed=seed)
    return {
        "c2st": whole["accuracy"],
        "c2st_ci": f"{whole['ci_low']:.2f}-{whole['ci_high']:.2f}",
        "c2st_seam": seam["accuracy"],
        "per_pair": whole["per_pair"],
        "flagged": whole["generated_flagged"],
    }


def generated_region(box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    """(1, 1, size, size) bool: True outside the kept input box (left, top, right, bottom)."""
    left, top, right, bottom = box
    region = torch.ones(1, 1, size, size, dtype=torch.bool)
    region[..., top:bottom, left:right] = False
    return region


def lf_l1_per_image(outputs: torch.Tensor, truths: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """(N,) mean |difference| of heavily blurred output and truth inside `region` (1, 1, H, W)."""
    blur = lambda x: kornia.filters.gaussian_blur2d(x, (31, 31), (8.0, 8.0))  # noqa: E731
    return ((blur(outputs) - blur(truths)).abs() * region).sum(dim=(1, 2, 3)) / (region.sum() * 3)


def _side_by_side(out, protocol, truths, outputs, results, page_figures, box, flatness) -> Path:
    """report.html: truth | skysynth | the best patch-based peer | reflect, one row per photo."""
    from skysynth.eval.baselines import PEERS
    from skysynth.eval.page import write_page

    rank = "c2st" if all("c2st" in results[m] for m in outputs) else "kid"
    peers = [m for m in outputs if m in PEERS] or [m for m in outputs if m != "skysynth"]
    shown = ["skysynth"] + sorted(peers, key=lambda m: results[m][rank])[:1]
    shown += ["reflect"] if "reflect" in outputs and "reflect" not in shown else []
    region = generated_region(box, truths.shape[-1])
    stacked = {m: torch.stack(outputs[m]) for m in shown}
    figures = {m: {"LF L1": lf_l1_per_image(stacked[m], truths, region), **page_figures.get(m, {})} for m in shown}
    title = f"skysynth outpainting, {protocol} protocol: truth | " + " | ".join(shown)
    return write_page(out, title, truths, stacked, figures, {"flatness": flatness})


def band_rows(outputs, truths, box, flatness: torch.Tensor, per_pair: torch.Tensor) -> dict:
    """Per flatness band of the truths: C2ST accuracy (from the held-out predictions of the
    whole test), collapse rate and low-frequency L1 of the generated area."""
    region = generated_region(box, truths.shape[-1])
    rows = {}
    for band, (lo, hi) in FLATNESS_BANDS.items():
        chosen = (flatness >= lo) & (flatness < hi)
        if not chosen.any():
            rows[band] = {}
            continue
        o, t = outputs[chosen], truths[chosen]
        lf = lf_l1_per_image(o, t, region).mean()
        rows[band] = {
            "c2st": float(per_pair[chosen].sum()) / (2 * int(chosen.sum())),
            "collapse": collapse_rate(o, t, region),
            "lf_l1": float(lf),
        }
    return rows


_BAND_COLUMNS = ("c2st", "collapse", "lf_l1")

# Result key -> the report table's column header, in the table's order.
_REPORT_COLUMNS = {
    "c2st": "C2ST acc",
    "c2st_ci": "C2ST 95%",
    "c2st_seam": "C2ST seam",
    "kid": "KID",
    "kid_std": "KID std",
    "fid": "FID",
    "swd": "SWD x1e3",
    "swd_fine": "SWD fine",
    "swd_low": "SWD low",
    "lf_l1": "LF L1",
    "seam": "seam",
    "seam_local": "seam local",
    "collapse": "collapse",
    "input_preserved": "input kept",
    "seconds_per_image": "s/image",
}


def input_mask(box, size) -> torch.Tensor:
    """(1, 1, size, size): 1 inside the input box, 0.15 outside (grids show the input dimmed around it)."""
    mask = torch.full((1, 1, size, size), 0.15)
    left, top, right, bottom = box
    mask[..., top:bottom, left:right] = 1.0
    return mask


def _plot(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for axis, key, label in ((axes[0], "kid", "KID (lower is better)"), (axes[1], "swd", "SWD x1e3 (lower is better)")):
        values = [results[n][key] for n in names]
        errors = [results[n].get("kid_std", 0) if key == "kid" else 0 for n in names]
        axis.bar(
            range(len(names)), values, yerr=errors, color=["tab:blue"] + ["tab:gray"] * (len(names) - 2) + ["tab:green"]
        )
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        axis.set_title(label)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
