import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from PIL import Image

from data_prep import segment, shards
from data_prep.archive import discover, parse_time
from data_prep.crops import sample_windows
from data_prep.demo_archive import write_archive
from data_prep.filters import FilterConfig, classify
from tests.helpers import ROOT, assert_one_line_error, run_module


def segment_cfg(archive, out, **overrides):
    cfg = OmegaConf.load(ROOT / "conf/prep/segment.yaml")
    cfg.pop("defaults"), cfg.pop("hydra")
    cfg.archive, cfg.out, cfg.workers, cfg.progress = str(archive), str(out), 1, False
    cfg.frames = 60
    return OmegaConf.merge(cfg, overrides)


def shards_cfg(source, out, **overrides):
    cfg = OmegaConf.load(ROOT / "conf/prep/shards.yaml")
    cfg.pop("defaults"), cfg.pop("hydra")
    cfg.source, cfg.out, cfg.workers, cfg.progress = str(source), str(out), 1, False
    return OmegaConf.merge(cfg, overrides)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    cams = write_archive(root / "archive", locations=5, frames=60, width=320, height=240, seed=1, progress=False)
    return root, cams


def test_segmentation_iou_on_five_locations(demo):
    root, cams = demo
    reports = segment.run(segment_cfg(root / "archive", root / "masks"))
    assert len(reports) == 5
    for index, cam in enumerate(cams):
        mask = np.asarray(Image.open(root / "masks" / f"cam{index:02d}_mask.png")) > 127
        truth = cam.sky_mask
        iou = (mask & truth).sum() / (mask | truth).sum()
        assert iou >= 0.95, (index, iou)
        assert (root / "masks" / f"cam{index:02d}_overlay.png").is_file()
        report = json.loads((root / "masks" / f"cam{index:02d}_mask.json").read_text())
        assert 0.2 <= report["run_threshold"] <= 0.9 and report["thresholds_from"] == "otsu"
    # Logo and text rectangles are never sky.
    cam = cams[0]
    mask = np.asarray(Image.open(root / "masks" / "cam00_mask.png")) > 127
    x0, y0, x1, y1 = cam.logo
    assert not mask[y0:y1, x0:x1].any()
    x0, y0, x1, y1 = cam.text
    assert not mask[y0:y1, x0:x1].any()


def test_segmentation_skips_finished_locations(demo):
    root, _ = demo
    path = root / "masks" / "cam00_mask.json"
    if not path.exists():
        segment.run(segment_cfg(root / "archive", root / "masks", locations=["cam00"]))
    before = path.stat().st_mtime_ns
    segment.run(segment_cfg(root / "archive", root / "masks", locations=["cam00"]))
    assert path.stat().st_mtime_ns == before


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(4, 24))
def test_no_crop_contains_non_sky(seed, size):
    rng = np.random.default_rng(seed)
    sky = rng.random((40, 50)) > 0.08  # speckled landscape
    sky[: rng.integers(0, 40), :] = True
    for top, left in sample_windows(sky, size, 20, rng):
        assert sky[top : top + size, left : left + size].all()


def test_filters_on_crafted_images():
    rng = np.random.default_rng(0)
    config = FilterConfig()
    night = np.full((16, 16, 3), 20, np.uint8)
    assert classify(night, config, rng) == "night"
    textured = rng.integers(0, 255, (16, 16, 3)).astype(np.uint8)
    assert classify(textured, config, rng) == "kept"
    flat = np.full((16, 16, 3), 180, np.uint8)
    verdicts = [classify(flat, config, np.random.default_rng(i)) for i in range(2000)]
    kept = verdicts.count("kept") / len(verdicts)
    assert set(verdicts) == {"kept", "monochrome"} and 0.07 < kept < 0.13


def _samples(folder: Path) -> dict:
    out = {}
    for tar_path in sorted(folder.glob("shard-*.tar")):
        with tarfile.open(tar_path) as tar:
            for member in tar.getmembers():
                out[member.name] = tar.extractfile(member).read()
    return out


def test_same_seed_identical_shards_and_no_sky_leak(demo, tmp_path):
    root, cams = demo
    if not (root / "masks" / "cam04_mask.png").exists():
        segment.run(segment_cfg(root / "archive", root / "masks"))
    a = shards.run(
        shards_cfg(
            root / "archive", tmp_path / "a", masks=str(root / "masks"), size=32, downscale=2, frames_per_shard=40
        )
    )
    b = shards.run(
        shards_cfg(
            root / "archive",
            tmp_path / "b",
            masks=str(root / "masks"),
            size=32,
            downscale=2,
            frames_per_shard=40,
            workers=2,
        )
    )
    shards.run(
        shards_cfg(
            root / "archive",
            tmp_path / "c",
            masks=str(root / "masks"),
            size=32,
            downscale=2,
            frames_per_shard=40,
            seed=1,
        )
    )
    assert a["counts"] == b["counts"] and a["counts"]["crops_kept"] > 0
    samples_a = _samples(tmp_path / "a")
    assert samples_a == _samples(tmp_path / "b")
    assert samples_a != _samples(tmp_path / "c")
    # Every crop came from a window that the location's mask calls sky.
    for name, data in samples_a.items():
        if name.endswith(".json"):
            meta = json.loads(data)
            mask = np.asarray(Image.open(root / "masks" / f"{meta['location']}_mask.png")) > 127
            d, top, left = meta["downscale"], meta["top"], meta["left"]
            assert mask[top * d : (top + 32) * d, left * d : (left + 32) * d].all()


def test_resume_keeps_finished_shards(demo, tmp_path):
    root, _ = demo
    cfg = shards_cfg(root / "archive", tmp_path / "s", frames_per_shard=100, kind="photos", size=64, downscale=2)
    shards.run(cfg)
    first = tmp_path / "s" / "shard-00000.tar"
    stamp = first.stat().st_mtime_ns
    (tmp_path / "s" / "shard-00001.tar").unlink()  # as if interrupted
    manifest = shards.run(cfg)
    assert first.stat().st_mtime_ns == stamp and (tmp_path / "s" / "shard-00001.tar").is_file()
    assert manifest["counts"]["frames_seen"] == 300


def test_corrupt_and_wrong_size_frames_are_reported(demo, tmp_path):
    root, _ = demo
    archive = tmp_path / "archive"
    day = archive / "camx" / "2024-06-01"
    day.mkdir(parents=True)
    frames = sorted((root / "archive" / "cam00").glob("*/*.jpg"))[:12]
    for frame in frames:
        (day / frame.name).write_bytes(frame.read_bytes())
    (day / "1300.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    Image.new("RGB", (100, 80), "blue").save(day / "1305.jpg")
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "camx_mask.png").write_bytes((root / "archive" / "_truth" / "cam00_mask.png").read_bytes())
    manifest = shards.run(shards_cfg(archive, tmp_path / "out", masks=str(masks), size=32, downscale=2))
    reasons = {Path(f["path"]).name: f["reason"] for f in manifest["failed"]}
    assert reasons == {"1300.jpg": "corrupt", "1305.jpg": "wrong_size"}
    assert manifest["counts"]["frames_ok"] == 12
    rows = (tmp_path / "out" / "frames.csv").read_text()
    assert "corrupt" in rows and "wrong_size" in rows


def test_photo_folder_keeps_whole_photos(tmp_path):
    folder = tmp_path / "photos" / "cumulus"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(60, 255, (48, 64, 3)).astype(np.uint8)).save(folder / f"p{i}.jpg")
    manifest = shards.run(shards_cfg(tmp_path / "photos", tmp_path / "out"))
    assert manifest["settings"]["kind"] == "photos" and manifest["counts"]["crops_kept"] == 6
    with tarfile.open(tmp_path / "out" / "shard-00000.tar") as tar:
        jpg = next(m for m in tar.getmembers() if m.name.endswith(".jpg"))
        assert Image.open(io.BytesIO(tar.extractfile(jpg).read())).size == (64, 48)


def test_shards_and_batches_carry_the_cloud_type(demo, tmp_path):
    from skysynth.common.cloud_types import cloud_type_of
    from skysynth.data.datamodule import SkyShardDataModule

    assert [cloud_type_of(n) for n in ("1_cumulus", "4_clearsky", "Cirrus", "cam07")] == [
        "cumulus", "clearsky", "cirrus", "unknown",
    ]
    for folder, colour in (("1_cumulus", (200, 200, 210)), ("4_clearsky", (60, 120, 220))):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(np.array(colour) + np.random.default_rng(i).normal(0, 40, (40, 40, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "photos" / folder / f"{i}.jpg")
    shards.run(shards_cfg(tmp_path / "photos", tmp_path / "s"))
    data = SkyShardDataModule(str(tmp_path / "s"), batch_size=8, crop_size=32, num_workers=0, val_fraction=0.2)
    data.setup("fit")
    batch = next(iter(data._loader(train=True)))
    assert sorted(set(batch["label"])) == ["clearsky", "cumulus"]
    # An archive's frames have no cloud type.
    root, _ = demo
    if not (root / "masks" / "cam04_mask.png").exists():
        segment.run(segment_cfg(root / "archive", root / "masks"))
    manifest = shards.run(shards_cfg(root / "archive", tmp_path / "a", masks=str(root / "masks"), size=32))
    with tarfile.open(tmp_path / "a" / manifest["shards"][0]) as tar:
        meta = next(json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json"))
    assert meta["label"] == "unknown"


def test_kill_9_of_the_shard_writer_leaves_no_orphaned_workers(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(400):
        Image.fromarray(np.full((64, 64, 3), (i % 200) + 40, np.uint8)).save(photos / f"{i:04d}.png")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = ["source=" + str(photos), f"out={tmp_path}/s", "workers=2", "frames_per_shard=20", "progress=false"]
    process = subprocess.Popen([sys.executable, "-m", "data_prep.shards", *args], cwd=ROOT, env=env)

    def children() -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        return [int(pid) for pid in found]

    deadline = time.monotonic() + 120
    while len(children()) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "no workers started"
        time.sleep(0.05)
    workers = children()
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(2)
    alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}") and "Z" not in _state(pid)]
    assert not alive, f"orphaned workers: {alive}"


def _state(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().split(")")[1].split()[0]
    except OSError:
        return "Z"


def test_time_parsing():
    assert parse_time(Path("loc/2024-06-01/1305.jpg")).isoformat() == "2024-06-01T13:05:00"
    assert parse_time(Path("loc/20240601_130501.jpg")).isoformat() == "2024-06-01T13:05:01"
    assert parse_time(Path("loc/photo.jpg")) is None


def test_discover_both_layouts(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.jpg")
    nested = tmp_path / "loc" / "2024-01-01"
    nested.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(nested / "1200.jpg")
    frames = discover(tmp_path)
    assert {f.location for f in frames} == {tmp_path.name, "loc"}


def test_bad_inputs_one_line(tmp_path):
    assert_one_line_error(run_module("data_prep.shards", f"source={tmp_path}/nope", f"out={tmp_path}/o"), "not found")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(
        run_module("data_prep.segment", f"archive={tmp_path}/empty", f"out={tmp_path}/m"), "no images"
    )
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())
    loc = tmp_path / "arch" / "a"
    loc.mkdir(parents=True)
    Image.new("RGB", (64, 48)).save(loc / "20240601_1200.jpg")
    assert_one_line_error(
        run_module("data_prep.segment", f"archive={tmp_path}/arch", f"out={tmp_path}/m", "locations=[b]"),
        "no frames for location",
    )
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.new("L", (10, 10), 255).save(masks / "a_mask.png")
    result = run_module("data_prep.shards", f"source={tmp_path}/arch", f"out={tmp_path}/o2", f"masks={masks}")
    assert_one_line_error(result, "mask")
    assert not list((tmp_path / "o2").glob("shard-*.tar")) if (tmp_path / "o2").exists() else True
    # An archive without masks is not taken for a photo folder; a mistyped masks= is refused.
    result = run_module("data_prep.shards", f"source={tmp_path}/arch", f"out={tmp_path}/o3")
    assert_one_line_error(result, "looks like a webcam archive")
    result = run_module("data_prep.shards", f"source={tmp_path}/arch", f"out={tmp_path}/o4", f"masks={tmp_path}/typo")
    assert_one_line_error(result, "masks folder not found")


def test_a_run_that_keeps_no_crop_is_an_error_that_says_why(demo, tmp_path):
    root, _ = demo
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.new("RGB", (48, 48), (90, 140, 200 + i)).save(photos / f"{i}.jpg")
    result = run_module("data_prep.shards", f"source={photos}", f"out={tmp_path}/o", "size=64")
    assert_one_line_error(result, "no all-sky window of 64 px")
    # An archive whose frames cannot hold a crop of the size asked (the old `make prep-data` demo).
    result = run_module(
        "data_prep.prepare", f"source={root / 'archive'}", f"out={tmp_path}/s", f"masks={tmp_path}/m",
        "demo=false", "size=128", "downscale=4",
    )
    assert_one_line_error(result, "pass a smaller size= or downscale=")


def test_prepare_runs_segmentation_then_shards(demo, tmp_path):
    """What `make prep-data` runs: an archive gets masks, then shards that use them."""
    root, _ = demo
    result = run_module(
        "data_prep.prepare",
        f"source={root / 'archive'}",
        f"out={tmp_path / 'shards'}",
        f"masks={tmp_path / 'masks'}",
        "demo=false",
        "size=32",
        "downscale=2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "masks").glob("*_mask.png"))) == 5
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert manifest["settings"]["kind"] == "archive" and manifest["counts"]["crops_kept"] > 0
    assert "frames seen" in result.stdout
