"""Sky mask of each webcam location from one day's frames (DESIGN.md, "Data").

    python -m data_prep.segment archive=DIR [out=DIR] [locations=[L,...]] [day=YYYY-MM-DD] [force=true]

Per frame: sum of absolute x/y gradients over RGB, threshold, 5 closings with a 3x3 square,
small sky areas become landscape, small landscape specks become sky. Over time: a pixel is
landscape when its longest run of consecutive edge frames AND its share of edge frames both
exceed thresholds. The thesis set those two thresholds by hand per location; here each is
chosen by Otsu's method on that location's own histogram (landscape pixels are edges nearly
always, sky pixels rarely, so both histograms are bimodal), clamped to a sane range, and can be
overridden (run_threshold=..., fraction_threshold=...).
"""

from __future__ import annotations

from skysynth.common.startup import quiet_start

with quiet_start(__name__):
    import json
    import os
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    import hydra
    import kornia
    import numpy as np
    import torch
    from omegaconf import DictConfig, OmegaConf
    from PIL import Image
    from scipy import ndimage
    from tqdm import tqdm

    from data_prep.archive import Frame, discover
    from data_prep.errors import PrepError, die_with_parent, exit_on_user_error
    from skysynth.common.images import load_rgb

REFERENCE_AREA = 1600 * 1200  # the constants below are for full-size institute frames


def edge_map(frames: torch.Tensor, threshold: float) -> torch.Tensor:
    """(N, 3, H, W) floats in [0, 1] -> (N, H, W) bool: summed |d/dx| + |d/dy| over RGB > threshold."""
    gradients = kornia.filters.spatial_gradient(frames, mode="diff", order=1)  # (N, 3, 2, H, W)
    return gradients.abs().sum(dim=(1, 2)) > threshold


def close(mask: torch.Tensor, iterations: int) -> torch.Tensor:
    """Morphological closing with a 3x3 square, `iterations` times (kornia)."""
    kernel = torch.ones(3, 3)
    x = mask[:, None].float()
    for _ in range(iterations):
        x = kornia.morphology.closing(x, kernel)
    return x[:, 0] > 0.5


def remove_small(mask: np.ndarray, min_area: int, value: bool) -> np.ndarray:
    """Set connected areas of `mask == value` smaller than `min_area` pixels to `not value`."""
    labels, count = ndimage.label(mask == value)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    small = sizes < min_area
    small[0] = False
    out = mask.copy()
    out[small[labels]] = not value
    return out


def otsu(values: np.ndarray, bins: int = 101) -> float:
    """Otsu's threshold of values in [0, 1]."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    weight0 = np.cumsum(hist)
    weight1 = weight0[-1] - weight0
    mean0 = np.cumsum(hist * centres) / np.maximum(weight0, 1)
    mean1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(weight1, 1)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    return float(edges[1:][np.argmax(between)])


def longest_run(stack: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (H, W) length of the longest run of consecutive True along N."""
    current = np.zeros(stack.shape[1:], dtype=np.int32)
    best = np.zeros_like(current)
    for frame in stack:
        current = np.where(frame, current + 1, 0)
        np.maximum(best, current, out=best)
    return best


def overlay_boxes(shape: tuple[int, int], full_size: tuple[int, int], logo: list, text: list) -> np.ndarray:
    """(H, W) bool of the logo (top-left) and text (top-right) rectangles, scaled from 1600 wide."""
    h, w = shape
    scale = w / 1600
    boxes = np.zeros(shape, dtype=bool)
    lw, lh = round(logo[0] * scale), round(logo[1] * scale)
    tw, th = round(text[0] * scale), round(text[1] * scale)
    boxes[:lh, :lw] = True
    boxes[:th, w - tw :] = True
    return boxes


def frame_masks(pixels: np.ndarray, cfg: dict, area_scale: float) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, H, W) bool landscape masks of single frames."""
    frames = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
    masks = []
    for start in range(0, len(frames), 16):  # bounded memory
        edges = close(edge_map(frames[start : start + 16], cfg["edge_threshold"]), cfg["closing_iterations"])
        masks.append(edges.numpy())
    masks = np.concatenate(masks)
    min_sky = max(1, round(cfg["min_sky_area"] * area_scale))
    min_land = max(1, round(cfg["min_landscape_area"] * area_scale))
    return np.stack([remove_small(remove_small(m, min_sky, False), min_land, True) for m in masks])


def choose_frames(frames: list[Frame], day: str | None, count: int) -> tuple[str, list[Frame]]:
    """`count` consecutive frames of `day` (default: the day with most frames) from noon on."""
    by_day: dict[str, list[Frame]] = {}
    for frame in frames:
        by_day.setdefault(frame.day or "unknown", []).append(frame)
    if day is None:
        day = max(by_day, key=lambda d: (len(by_day[d]), d))
    if day not in by_day:
        raise PrepError(f"no frames on day {day} for location {frames[0].location}")
    todays = sorted(by_day[day], key=lambda f: (f.time, str(f.path)))
    from_noon = [i for i, f in enumerate(todays) if f.time and f.time.hour >= 12]
    start = from_noon[0] if from_noon else 0
    start = max(0, min(start, len(todays) - count))
    return day, todays[start : start + count]


def segment_location(location: str, frames: list[Frame], cfg: dict) -> dict:
    """Compute and write the mask, overlay and JSON of one location; returns the JSON dict."""
    out = Path(cfg["out"])
    day, chosen = choose_frames(frames, cfg.get("day"), int(cfg["frames"]))
    loaded, size, skipped = [], None, 0
    for frame in chosen:
        try:
            pixels = load_rgb(frame.path, int(cfg["work_downscale"]))
            with Image.open(frame.path) as image:
                full = image.size
        except Exception:
            skipped += 1
            continue
        if size is None:
            size = full
        if full != size:
            skipped += 1
            continue
        loaded.append(pixels)
    if not loaded:
        raise PrepError(f"no readable frames for location {location} on {day}")
    pixels = np.stack(loaded)
    area_scale = pixels.shape[1] * pixels.shape[2] / REFERENCE_AREA
    stack = frame_masks(pixels, cfg, area_scale)
    n = len(stack)
    fraction = stack.mean(axis=0)
    run = longest_run(stack) / n
    lo, hi = cfg["auto_threshold_range"]
    run_threshold = cfg.get("run_threshold")
    fraction_threshold = cfg.get("fraction_threshold")
    run_threshold = float(np.clip(otsu(run), lo, hi)) if run_threshold is None else float(run_threshold)
    fraction_threshold = (
        float(np.clip(otsu(fraction), lo, hi)) if fraction_threshold is None else float(fraction_threshold)
    )
    landscape = (run > run_threshold) & (fraction > fraction_threshold)
    landscape = remove_small(landscape, max(1, round(cfg["min_landscape_area"] * area_scale)), True)
    landscape = remove_small(landscape, max(1, round(cfg["min_sky_area"] * area_scale)), False)
    landscape |= overlay_boxes(landscape.shape, size, cfg["logo_box"], cfg["text_box"])
    sky_small = ~landscape
    sky = np.asarray(Image.fromarray(sky_small.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 127
    # Boxes again at full size so the rounding of the reduced mask cannot uncover a sliver.
    sky &= ~overlay_boxes(sky.shape, size, cfg["logo_box"], cfg["text_box"])
    report = {
        "location": location,
        "day": day,
        "frames_used": n,
        "frames_skipped": skipped,
        "frame_size": list(size),
        "run_threshold": run_threshold,
        "fraction_threshold": fraction_threshold,
        "thresholds_from": "override" if cfg.get("run_threshold") is not None else "otsu",
        "sky_fraction": float(sky.mean()),
    }
    _save_png((sky * 255).astype(np.uint8), out / f"{location}_mask.png")
    preview = loaded[len(loaded) // 2].astype(np.float32)
    tint = np.where(sky_small[..., None], preview, preview * 0.45 + np.array([255, 0, 0]) * 0.55)
    _save_png(tint.astype(np.uint8), out / f"{location}_overlay.png")
    tmp = out / f".{location}_mask.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out / f"{location}_mask.json")
    return report


def _save_png(pixels: np.ndarray, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(pixels).save(tmp, format="PNG")
    os.replace(tmp, path)


def _segment_job(args) -> dict:
    location, frames, cfg = args
    torch.set_num_threads(1)
    return segment_location(location, frames, cfg)


def run(cfg: DictConfig) -> list[dict]:
    settings = OmegaConf.to_container(cfg, resolve=True)
    frames = discover(Path(cfg.archive), list(cfg.locations) if cfg.get("locations") else None)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    by_location: dict[str, list[Frame]] = {}
    for frame in frames:
        by_location.setdefault(frame.location, []).append(frame)
    todo = [
        (loc, fs, settings) for loc, fs in by_location.items() if cfg.force or not (out / f"{loc}_mask.json").is_file()
    ]
    done = [
        json.loads((out / f"{loc}_mask.json").read_text())
        for loc in by_location
        if not cfg.force and (out / f"{loc}_mask.json").is_file()
    ]
    workers = min(len(todo), int(cfg.workers) if cfg.workers else (os.cpu_count() or 1)) or 1
    with tqdm(total=len(todo), desc="segment", unit="location", disable=not cfg.progress) as bar:
        if workers == 1:
            for job in todo:
                done.append(_segment_job(job))
                bar.update(1)
        else:
            with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
                for report in pool.map(_segment_job, todo):
                    done.append(report)
                    bar.update(1)
    return sorted(done, key=lambda r: r["location"])


@hydra.main(version_base="1.3", config_path="../conf/prep", config_name="segment")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    for report in run(cfg):
        print(
            f"{report['location']}: sky {report['sky_fraction']:.1%}, run>{report['run_threshold']:.2f}, "
            f"fraction>{report['fraction_threshold']:.2f} ({report['frames_used']} frames of {report['day']})"
        )


if __name__ == "__main__":
    main()
