"""Cut sky-only training crops from an archive (with masks) or a photo folder into WebDataset shards.

    python -m data_prep.shards source=DIR out=DIR [size=128] [downscale=4] [per_frame=N] [seed=S]

Deterministic for a seed (each frame has its own random stream), resumable (finished shards
are kept), parallel over processes, with a progress bar. Writes `manifest.json` (settings and
counts) and `frames.csv` (location, time, path, size, status of every frame).
"""

from __future__ import annotations

from skysynth.common.startup import quiet_start

with quiet_start(__name__):
    import hashlib
    import json
    import os
    from collections import Counter
    from concurrent.futures import ProcessPoolExecutor
    from dataclasses import asdict
    from pathlib import Path

    import hydra
    import numpy as np
    from omegaconf import DictConfig, OmegaConf
    from PIL import Image
    from tqdm import tqdm

    from data_prep.archive import Frame, discover, looks_like_archive, write_manifest
    from data_prep.crops import sample_windows
    from data_prep.errors import PrepError, die_with_parent, exit_on_user_error
    from data_prep.filters import FilterConfig, classify
    from data_prep.imageio import encode_jpeg, read_size
    from skysynth.common.cloud_types import UNKNOWN, cloud_type_of
    from skysynth.common.images import load_rgb
    from skysynth.common.keys import sample_key

FORMAT_VERSION = 1
# Archives: windows of this size from frames downscaled this many times (the thesis's 400x300).
ARCHIVE_SIZE, ARCHIVE_DOWNSCALE = 128, 4


def stable_seed(*parts) -> int:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def frame_key(frame: Frame, index: int) -> str:
    return sample_key(frame.location, frame.path, index)


def load_sky_mask(masks_dir: Path, location: str) -> np.ndarray | None:
    path = masks_dir / f"{location}_mask.png"
    if not path.is_file():
        return None
    return np.asarray(Image.open(path).convert("L")) > 127


def _downscale_mask(sky_mask: np.ndarray, downscale: int) -> np.ndarray:
    """A downscaled pixel counts as sky only when every full-size pixel under it is sky."""
    if downscale == 1:
        return sky_mask
    h, w = sky_mask.shape[0] // downscale, sky_mask.shape[1] // downscale
    blocks = sky_mask[: h * downscale, : w * downscale].reshape(h, downscale, w, downscale)
    return blocks.all(axis=(1, 3))


def process_frame(frame: Frame, job: dict, sky_mask: np.ndarray | None, rng: np.random.Generator):
    """-> (status, [(key, crop uint8)], frame size text, crop verdict counts). Never raises for a bad frame."""
    try:
        width, height = read_size(frame.path)
    except Exception:
        return "corrupt", [], "", Counter()
    size_text = f"{width}x{height}"
    if sky_mask is not None and sky_mask.shape != (height, width):
        return "wrong_size", [], size_text, Counter()
    try:
        pixels = load_rgb(frame.path, job["downscale"])
    except Exception:
        return "corrupt", [], size_text, Counter()
    window = job["size"]
    if sky_mask is None and window is None:
        corners, crop_h, crop_w = [(0, 0)], pixels.shape[0], pixels.shape[1]
    else:
        mask = _downscale_mask(sky_mask, job["downscale"]) if sky_mask is not None else np.ones(pixels.shape[:2], bool)
        mask = mask[: pixels.shape[0], : pixels.shape[1]]
        crop_h = crop_w = window
        corners = sample_windows(mask, window, job["per_frame"], rng)
        if not corners:
            return "no_sky_window", [], size_text, Counter()
    filters = FilterConfig(**job["filters"])
    crops, statuses = [], Counter()
    for index, (top, left) in enumerate(corners):
        crop = pixels[top : top + crop_h, left : left + crop_w]
        verdict = classify(crop, filters, rng)
        statuses[verdict] += 1
        if verdict == "kept":
            crops.append((frame_key(frame, index), crop, top, left))
    return "ok", crops, size_text, statuses


def write_shard(args) -> dict:
    """Process one chunk of frames into `<out>/shard-XXXXX.tar`; returns its statistics."""
    import webdataset as wds

    shard_index, frames, job = args
    out = Path(job["out"])
    tar_path = out / f"shard-{shard_index:05d}.tar"
    stats_path = out / f".shard-{shard_index:05d}.json"
    if tar_path.exists() and stats_path.exists():
        return json.loads(stats_path.read_text())
    masks: dict[str, np.ndarray | None] = {}
    counts: Counter = Counter()
    rows, failed = [], []
    tmp = out / f".shard-{shard_index:05d}.tar.tmp"
    with wds.TarWriter(str(tmp)) as sink:
        for frame in frames:
            if frame.location not in masks:
                masks[frame.location] = load_sky_mask(Path(job["masks"]), frame.location) if job["masks"] else None
            rng = np.random.default_rng(stable_seed(job["seed"], frame.path.relative_to(job["source"])))
            status, crops, size_text, verdicts = process_frame(frame, job, masks[frame.location], rng)
            counts["frames_seen"] += 1
            counts[f"frames_{status}"] += 1
            for verdict, n in verdicts.items():
                counts[f"crops_{verdict}"] += n
            if status in ("corrupt", "wrong_size"):
                failed.append({"path": str(frame.path), "reason": status})
            time_text = frame.time.isoformat() if frame.time else ""
            rows.append(
                {
                    "location": frame.location,
                    "time": time_text,
                    "path": str(frame.path),
                    "size": size_text,
                    "status": status,
                }
            )
            for key, crop, top, left in crops:
                meta = {
                    "location": frame.location,
                    "time": time_text,
                    "source": str(frame.path),
                    "top": top,
                    "left": left,
                    "downscale": job["downscale"],
                    # Photo folders are sorted by cloud type (GCD: 1_cumulus/...); archives have none.
                    "label": cloud_type_of(frame.location) if job["kind"] == "photos" else UNKNOWN,
                }
                sink.write({"__key__": key, "jpg": encode_jpeg(crop, job["quality"]), "json": meta})
    stats = {"shard": tar_path.name, "counts": dict(counts), "rows": rows, "failed": failed}
    os.replace(tmp, tar_path)
    tmp_stats = stats_path.with_suffix(".tmp")
    tmp_stats.write_text(json.dumps(stats))
    os.replace(tmp_stats, stats_path)
    return stats


def _check_mask_size(sky_mask: np.ndarray, frames: list[Frame], location: str) -> None:
    """A mask that fits none of the first readable frames is a user error, not a per-frame one."""
    sizes = []
    for frame in frames[:20]:
        try:
            sizes.append(read_size(frame.path))
        except Exception:
            continue
    expected = (sky_mask.shape[1], sky_mask.shape[0])
    if sizes and expected not in sizes:
        width, height = Counter(sizes).most_common(1)[0][0]
        raise PrepError(f"mask of {location} is {expected[0]}x{expected[1]} but its frames are {width}x{height}")


def build_jobs(cfg: DictConfig) -> tuple[list, dict]:
    source = Path(cfg.source)
    frames = discover(source, list(cfg.locations) if cfg.get("locations") else None)
    masks_dir = Path(cfg.masks) if cfg.get("masks") else None
    if masks_dir is not None and not masks_dir.is_dir():
        raise PrepError(f"masks folder not found: {masks_dir}")
    has_masks = masks_dir is not None and any(
        load_sky_mask(masks_dir, loc) is not None for loc in {f.location for f in frames}
    )
    if cfg.kind not in ("auto", "archive", "photos"):
        raise PrepError(f"kind must be auto, archive or photos, got {cfg.kind!r}")
    if cfg.kind == "auto" and not has_masks and looks_like_archive(frames):
        raise PrepError(
            f"{source} looks like a webcam archive (<location>/<day>/<time>.jpg) but has no sky masks: run "
            f"`python -m data_prep.segment archive={source} out=MASKS` and pass masks=MASKS "
            "(kind=photos keeps whole frames)"
        )
    kind = cfg.kind if cfg.kind != "auto" else ("archive" if has_masks else "photos")
    if kind == "archive" and not has_masks:
        raise PrepError(f"kind=archive but no <location>_mask.png in {masks_dir}; run data_prep.segment first")
    if kind == "archive":
        for location in sorted({f.location for f in frames}):
            sky_mask = load_sky_mask(masks_dir, location)
            if sky_mask is None:
                raise PrepError(f"no sky mask for location {location} in {masks_dir}")
            _check_mask_size(sky_mask, [f for f in frames if f.location == location], location)
    size = cfg.size if cfg.size is not None else (ARCHIVE_SIZE if kind == "archive" else None)
    downscale = cfg.downscale if cfg.downscale is not None else (ARCHIVE_DOWNSCALE if kind == "archive" else 1)
    if size is not None and size < 8:
        raise PrepError(f"size must be at least 8 pixels, got {size}")
    if int(downscale) < 1:
        raise PrepError(f"downscale must be a positive integer, got {downscale}")
    job = {
        "source": str(source.resolve()),
        "out": str(Path(cfg.out).resolve()),
        "masks": str(masks_dir.resolve()) if kind == "archive" else None,
        "size": size,
        "downscale": int(downscale),
        "per_frame": int(cfg.per_frame),
        "seed": int(cfg.seed),
        "quality": int(cfg.quality),
        "filters": dict(cfg.filters),
        "kind": kind,
    }
    frames = [Frame(f.location, f.time, f.path.resolve()) for f in frames]
    per_shard = int(cfg.frames_per_shard)
    chunks = [(i, frames[s : s + per_shard], job) for i, s in enumerate(range(0, len(frames), per_shard))]
    return chunks, job


def run(cfg: DictConfig) -> dict:
    """Write all shards and the manifest; returns the manifest dict."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    chunks, job = build_jobs(cfg)
    settings_path = out / ".settings.json"
    settings = {k: v for k, v in job.items() if k != "out"} | {"frames_per_shard": int(cfg.frames_per_shard)}
    if settings_path.exists() and json.loads(settings_path.read_text()) != settings:
        if not cfg.force:
            raise PrepError(f"{out} holds shards made with other settings; use force=true or another out")
        for stale in list(out.glob("shard-*.tar")) + list(out.glob(".shard-*.json")):
            stale.unlink()
    settings_path.write_text(json.dumps(settings))
    workers = int(cfg.workers) if cfg.workers else (os.cpu_count() or 1)
    total_frames = sum(len(c[1]) for c in chunks)
    results = []
    with tqdm(total=total_frames, unit="frame", desc="shards", disable=not cfg.progress) as bar:
        if workers <= 1:
            for chunk in chunks:
                results.append(write_shard(chunk))
                bar.update(len(chunk[1]))
        else:
            with ProcessPoolExecutor(workers, initializer=die_with_parent) as pool:
                for chunk, stats in zip(chunks, pool.map(write_shard, chunks)):
                    results.append(stats)
                    bar.update(len(chunk[1]))
    counts: Counter = Counter()
    for stats in results:
        counts.update(stats["counts"])
    write_manifest(out / "frames.csv", [row for stats in results for row in stats["rows"]])
    manifest = {
        "format_version": FORMAT_VERSION,
        "settings": settings | {"filters": asdict(FilterConfig(**job["filters"]))},
        "counts": dict(sorted(counts.items())),
        "shards": [s["shard"] for s in results],
        "failed": [f for s in results for f in s["failed"]],
    }
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, out / "manifest.json")
    if not counts.get("crops_kept"):
        # Empty shards are no data: remove them; the manifest and frames.csv stay as the report.
        for empty in [*out.glob("shard-*.tar"), *out.glob(".shard-*.json"), settings_path]:
            empty.unlink(missing_ok=True)
        raise PrepError(f"no crops kept: {nothing_kept_reason(manifest)} (details: {out / 'manifest.json'})")
    return manifest


def nothing_kept_reason(manifest: dict) -> str:
    """Why a run kept no crop, and what to change, in one phrase."""
    c, s = manifest["counts"], manifest["settings"]
    seen = c.get("frames_seen", 0)
    if not seen:
        return "no image found under the source"
    if c.get("frames_no_sky_window", 0) >= seen / 2:
        return (
            f"{c['frames_no_sky_window']} of {seen} frames have no all-sky window of {s['size']} px at "
            f"downscale {s['downscale']}; pass a smaller size= or downscale="
        )
    if c.get("frames_corrupt", 0) + c.get("frames_wrong_size", 0) >= seen / 2:
        return f"{c.get('frames_corrupt', 0)} corrupt and {c.get('frames_wrong_size', 0)} wrong-size frames of {seen}"
    return (
        f"the filters dropped every crop ({c.get('crops_night', 0)} night, {c.get('crops_monochrome', 0)} "
        "monochrome); check filters.night_mean / filters.monochrome_std"
    )


def summary(manifest: dict) -> str:
    c = manifest["counts"]
    return (
        f"{c.get('frames_seen', 0)} frames seen, {c.get('crops_kept', 0)} crops kept "
        f"(dropped: {c.get('crops_night', 0)} night, {c.get('crops_monochrome', 0)} monochrome), "
        f"{c.get('frames_corrupt', 0)} corrupt, {c.get('frames_wrong_size', 0)} wrong size, "
        f"{c.get('frames_no_sky_window', 0)} without a sky window of the crop size, "
        f"{len(manifest['shards'])} shards"
    )


@hydra.main(version_base="1.3", config_path="../conf/prep", config_name="shards")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    OmegaConf.resolve(cfg)
    manifest = run(cfg)
    print(summary(manifest))
    print(f"manifest: {Path(cfg.out) / 'manifest.json'}")


if __name__ == "__main__":
    main()
