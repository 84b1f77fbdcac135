"""Evaluation tasks and quality measures, on tiny random models and procedural skies."""

from __future__ import annotations

import json

import kornia
import pytest
import torch
from omegaconf import OmegaConf

from data_prep import shards
from skysynth.eval.__main__ import run
from skysynth.eval.quality import collapse_rate, high_frequency_ratio, seam_score
from skysynth.flatness import near_uniform
from tests.conftest import sky_image, tiny_maskgit, tiny_upscaler, tiny_vqvae
from tests.helpers import ROOT, assert_one_line_error, run_module


@pytest.fixture(scope="module")
def eval_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    photos = root / "photos" / "sky"
    photos.mkdir(parents=True)
    for i in range(60):
        sky_image(64, 64, seed=100 + i).save(photos / f"p{i:03d}.jpg")
    cfg = OmegaConf.load(ROOT / "conf/prep/shards.yaml")
    cfg.pop("defaults"), cfg.pop("hydra")
    cfg.source, cfg.out, cfg.workers, cfg.progress = str(photos.parent), str(root / "shards"), 1, False
    shards.run(cfg)
    tiny_vqvae().save_pretrained(root / "tokenizer")
    tiny_maskgit(side=8).save_pretrained(root / "maskgit")
    tiny_upscaler().save_pretrained(root / "upscaler")
    return root


def eval_cfg(root, task, **overrides):
    """The eval's structured config with `overrides` (dotted names for pipeline settings:
    sampling__sampling__decode_steps=2 stands for sampling.sampling__decode_steps=2)."""
    from skysynth.eval.config import EvalApp

    cfg = OmegaConf.structured(EvalApp)
    cfg.task, cfg.data, cfg.tokenizer = task, str(root / "shards"), str(root / "tokenizer")
    cfg.weights = str(root / {"vqvae": "tokenizer", "maskgit": "maskgit", "upscaler": "upscaler"}.get(task, ""))
    cfg.val_fraction, cfg.n, cfg.batch, cfg.out = 0.5, 8, 4, str(root / "out" / task)
    for key, value in overrides.items():
        OmegaConf.update(cfg, key.replace("__", "."), value, merge=True)
    return cfg


def test_vqvae_eval_reports_metrics_and_grid(eval_setup):
    report = run(eval_cfg(eval_setup, "vqvae", crop=32))
    results = report["results"]
    assert report["images"] == 8
    assert 0 < results["vqvae"]["codebook_usage"] <= 1 and results["vqvae"]["perplexity"] >= 1
    assert results["bicubic"]["psnr"] > 15  # smooth procedural skies survive bicubic well
    assert 0 < results["bicubic"]["detail_ratio"] < 1  # bicubic down-up is a blur
    assert (eval_setup / "out" / "vqvae" / "reconstructions.png").is_file()
    assert json.loads((eval_setup / "out" / "vqvae" / "report.json").read_text())["images"] == 8


def test_maskgit_eval_per_mask_and_samplers(eval_setup):
    report = run(eval_cfg(eval_setup, "maskgit", sampling__decode_steps=2))
    assert set(report["per_mask"]) == {
        "right",
        "left",
        "bottom",
        "top",
        "top_left",
        "top_right",
        "bottom_left",
        "bottom_right",
    }
    assert all(0 <= v["accuracy"] <= 1 and v["nll"] > 0 for v in report["per_mask"].values())
    assert {"halton order", "confidence, annealed noise"} <= set(report["collapse"])
    assert "confidence + pixel guard, 6 redraws, exemption 0.01" in report["collapse"]
    fast = run(eval_cfg(eval_setup, "maskgit", sampling__decode_steps=2, samplers=False))
    assert fast["collapse"] == {} and fast["per_mask"] == report["per_mask"]
    name = "confidence + pixel guard, 3 redraws in Halton order, exemption 0.01"
    chosen = run(eval_cfg(eval_setup, "maskgit", sampling__decode_steps=2, samplers=[name]))
    assert set(chosen["collapse"]) == {name}
    assert set(run(eval_cfg(eval_setup, "maskgit", sampling__decode_steps=2, samplers="halton order"))["collapse"]) == {
        "halton order"
    }
    with pytest.raises(ValueError, match="unknown sampler 'nosuch'"):
        run(eval_cfg(eval_setup, "maskgit", sampling__decode_steps=2, samplers=["nosuch"]))


def test_maskgit_eval_on_crops_larger_than_the_window_gives_a_context_model_its_context(eval_setup):
    import dataclasses

    from skysynth.models.maskgit import MaskGIT

    plain = MaskGIT.from_pretrained(eval_setup / "maskgit")
    net = MaskGIT(dataclasses.replace(plain.config, context_codes=True)).eval()
    net.add_conditions_to(plain)
    net.save_pretrained(eval_setup / "maskgit_context_zero")
    torch.nn.init.normal_(net.context_projection.weight, std=3.0)
    net.save_pretrained(eval_setup / "maskgit_context")
    reports = {
        name: run(
            eval_cfg(eval_setup, "maskgit", crop=48, downscale=1, samplers=False, weights=str(eval_setup / name))
        )["per_mask"]
        for name in ("maskgit", "maskgit_context_zero", "maskgit_context")
    }
    assert reports["maskgit_context_zero"] == reports["maskgit"]  # the centre window, the same network
    assert reports["maskgit_context"] != reports["maskgit"]  # ...and the context reaches it
    with pytest.raises(ValueError, match="samplers=false"):
        run(eval_cfg(eval_setup, "maskgit", crop=48, downscale=1, weights=str(eval_setup / "maskgit_context")))
    with pytest.raises(ValueError, match="less than the 8-token window"):
        run(eval_cfg(eval_setup, "maskgit", crop=16, downscale=1, samplers=False))


def test_upscaler_eval_steps_and_seams(eval_setup):
    report = run(eval_cfg(eval_setup, "upscaler", crop=64, steps=[1, 2], seam_tile=32, seam_overlap=8))
    assert {"skysynth 1 steps", "skysynth 2 steps", "bicubic of tokens (input)"} <= set(report["results"])
    assert report["seams"]["tiled"] > 0


def test_eval_bad_task_and_missing_weights_one_line(eval_setup, tmp_path):
    result = run_module("skysynth.eval", "task=nosuch", f"out={tmp_path}/o")
    assert_one_line_error(result, "unknown task")
    result = run_module("skysynth.eval", "task=vqvae", f"weights={tmp_path}/none", f"out={tmp_path}/o")
    assert_one_line_error(result, "no weights")
    # `data=` is a value for the eval apps, not the training config group of the same name.
    result = run_module("skysynth.eval", "task=vqvae", f"data={tmp_path}/no_shards", f"out={tmp_path}/o")
    assert_one_line_error(result, "shard folder not found")
    result = run_module("skysynth.eval.train_classifier", f"data={tmp_path}/no_photos", f"out={tmp_path}/c")
    assert_one_line_error(result, "data folder not found")


def test_quality_measures_separate_good_from_bad():
    sharp = (
        torch.stack(
            [
                torch.from_numpy(__import__("numpy").asarray(sky_image(64, 64, seed=s))).permute(2, 0, 1)
                for s in range(4)
            ]
        ).float()
        / 255
    )
    blurred = kornia.filters.box_blur(sharp, (5, 5))
    assert high_frequency_ratio(blurred, sharp) < 0.5 < high_frequency_ratio(sharp, sharp) == pytest.approx(1.0)
    flat = sharp.mean(dim=(2, 3), keepdim=True).expand_as(sharp)
    assert near_uniform(flat).all() and not near_uniform(sharp).any()
    assert collapse_rate(flat, sharp) == 1.0 and collapse_rate(sharp, sharp) == 0.0
    # A pasted seam: the right half replaced by another sky raises the score across column 32.
    pasted = torch.cat([sharp[..., :32], sharp.roll(1, 0)[..., 32:] * 0.8], dim=-1)
    assert seam_score(pasted, [32], "x", reference=sharp) > 1.5 * seam_score(sharp, [32], "x", reference=sharp)
    # A truth whose own step on column 32 is raised (a JPEG block edge): against that line, an
    # output without the step scores below 1; against the lines beside it, about 1.
    blocky = sharp.clone()
    blocky[..., 32:] += 0.02 * torch.sign(torch.randn(4, 3, 64, 1, generator=torch.Generator().manual_seed(0)))
    assert seam_score(sharp, [32], "x", reference=blocky) < 0.8
    assert seam_score(sharp, [32], "x", reference=blocky, beside=2) == pytest.approx(
        seam_score(sharp, [32], "x", reference=sharp, beside=2), rel=1e-4
    )
    assert seam_score(pasted, [32], "x", reference=blocky, beside=2) > 1.5


def test_outpaint_eval_report_with_baselines(eval_setup, tmp_path, monkeypatch):
    from skysynth.eval import outpaint_eval
    from skysynth.models.classifier import ClassifierConfig, CloudClassifier

    whole_sizes = []
    realism_tests = outpaint_eval.realism_tests

    def recording(*args):
        whole_sizes.append(args[-1])
        return realism_tests(*args)

    monkeypatch.setattr(outpaint_eval, "realism_tests", recording)

    torch.manual_seed(0)
    CloudClassifier(ClassifierConfig(class_names=("a", "b"), channels=(8, 8), image_size=32)).save_pretrained(
        tmp_path / "classifier"
    )
    weights = tmp_path / "weights"
    tiny_vqvae().save_pretrained(weights / "tokenizer")
    tiny_maskgit(side=8).save_pretrained(weights / "maskgit")
    tiny_upscaler().save_pretrained(weights / "upscaler")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        sky_image(80, 64, seed=300 + i).save(photos / f"s{i}.png")
    cfg = eval_cfg(
        eval_setup,
        "outpaint",
        protocol="left",
        size=32,
        n=8,
        sampling__decode_steps=2,
        progress=False,
        split="all",
        c2st_steps=20,
        c2st_folds=2,
        c2st_size=24,
    )
    cfg.weights, cfg.data, cfg.classifier, cfg.out = (
        str(weights),
        str(photos),
        str(tmp_path / "classifier"),
        str(tmp_path / "report"),
    )
    report = run(cfg)
    results = report["results"]
    from skysynth.eval.baselines import PEERS, missing

    installed = {name for name in PEERS if missing(name) is None}
    assert set(results) == {"skysynth", "reflect", "telea", "ns", "mean", "real vs real (floor)"} | installed
    assert results["skysynth"]["input_preserved"] == 1.0 and results["reflect"]["input_preserved"] == 1.0
    assert results["mean"]["collapse"] > 0.5  # a flat fill is a collapse
    assert results["mean"]["seam_local"] > results["reflect"]["seam_local"]  # a flat fill steps at the border
    assert "seam local" in report["table"]
    for row in results.values():  # the SWD and its two levels, the floor's included
        assert row["swd"] == pytest.approx((row["swd_fine"] + row["swd_low"]) / 2)
    assert results["mean"]["swd_fine"] > results["reflect"]["swd_fine"]  # a flat fill has no grain
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "report" / "grid_left.png").is_file()
    for row in results.values():  # two-sample tests for every method and the floor
        assert 0 <= row["c2st"] <= 1 and 0 <= row["c2st_seam"] <= 1 and "-" in row["c2st_ci"]
    assert whole_sizes == [24] * len(results)  # c2st_size reaches every test, the floor's included
    assert set(report["bands"]["skysynth"]) == {"std < 0.02", "0.02-0.05", "std > 0.05"}
    assert "By the truth's flatness" in report["table"]
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("<tr data-") == 8 and "images/0000_truth.png" in page
    # A range the structured config refuses, also when the config is built in Python.
    bad = cfg.copy()
    bad.guard.window.retry_order = "spiral"
    with pytest.raises(ValueError, match="guard.window.retry_order must be null, confidence or halton"):
        run(bad)


@pytest.mark.parametrize(
    "override, message",
    [
        ("n=0", "n must be at least 1"),
        ("n=-3", "n must be at least 1"),
        ("size=0", "size must be at least 8"),
        ("n=two", "n=two: Value 'two' of type 'str' could not be converted to Integer"),
        ("device=tpu", "device must be cpu or cuda"),
        ("c2st_size=8", "c2st_size must be at least 16"),
        # Pipeline settings of the wrong kind are refused by their dotted name (bool("maybe") would be True).
        ("finish.detail_copy.cap=abc", "finish.detail_copy.cap=abc: Value 'abc'"),
        ("finish.detail_copy.enabled=maybe", "finish.detail_copy.enabled=maybe: Value 'maybe'"),
        ("detail_cap=2", "unknown option 'detail_cap'"),
        ("finish.detail_copy.structure_sigmas=[4,1.5]", "structure_sigmas must be two increasing positive sigmas"),
    ],
)
def test_eval_refuses_nonsense_values_in_one_line(eval_setup, override, message):
    result = run_module("skysynth.eval", "task=outpaint", f"data={eval_setup / 'shards'}", override)
    assert_one_line_error(result, message)


def test_side_by_side_page_loads_and_sorts_in_chromium(tmp_path):
    import os
    import shutil

    from playwright.sync_api import sync_playwright

    from skysynth.eval.page import write_page

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if os.environ.get("SKYSYNTH_SKIP_BROWSER") == "1":
        pytest.skip("SKYSYNTH_SKIP_BROWSER=1")
    assert os.path.exists(chromium), "Chromium is needed (make test installs Debian's chromium)"
    truths = torch.rand(5, 3, 24, 24)
    outputs = {"skysynth": torch.rand(5, 3, 24, 24), "reflect": torch.rand(5, 3, 24, 24)}
    lf = torch.tensor([0.3, 0.1, 0.5, 0.2, 0.4])
    figures = {"skysynth": {"LF L1": lf}, "reflect": {"LF L1": lf.flip(0)}}
    path = write_page(tmp_path, "test page", truths, outputs, figures, {"flatness": torch.arange(5.0)})
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(path.as_uri())
        page.wait_for_function("[...document.images].every((i) => i.complete)")
        assert page.evaluate("[...document.images].filter((i) => i.naturalWidth === 24).length") == 15
        page.click("th[data-key=skysynth_lf_l1]")
        first = lambda: page.evaluate("document.querySelector('tbody tr td').textContent")  # noqa: E731
        assert first() == "1"  # the row with the lowest skysynth LF L1
        page.click("th[data-key=skysynth_lf_l1]")
        assert first() == "2"  # and descending on the second click
        browser.close()


def test_photo_folder_validation_split_is_the_shards_one(tmp_path):
    """The eval finds in a photo folder exactly the photos whose shard keys are validation."""
    from skysynth.common.keys import is_validation
    from skysynth.data.datamodule import shard_keys
    from skysynth.eval.outpaint_eval import photo_split

    root = tmp_path / "photos"
    for cls in ("1_cumulus", "4_clearsky"):
        (root / cls).mkdir(parents=True)
        for i in range(20):
            sky_image(32, 32, seed=i).save(root / cls / f"{cls}_{i:06d}.jpg")
    cfg = OmegaConf.load(ROOT / "conf/prep/shards.yaml")
    cfg.pop("defaults"), cfg.pop("hydra")
    cfg.source, cfg.out, cfg.workers, cfg.progress = str(root), str(tmp_path / "shards"), 1, False
    cfg.filters.monochrome_keep = 1.0  # keep every photo, as the eval does
    shards.run(cfg)
    keys = shard_keys([str(p) for p in (tmp_path / "shards").glob("shard-*.tar")])
    validation_stems = {k.split("__")[2] for k in keys if is_validation(k, 0.3)}
    files = sorted(root.rglob("*.jpg"))
    chosen = {p.stem for p in photo_split(root, files, 0.3)}
    assert chosen == validation_stems and 0 < len(chosen) < len(files)


@pytest.mark.parametrize("protocol, known", [("wide", (74, 0, 150, 224)), ("small", (84, 84, 140, 140))])
def test_wide_and_small_protocols(protocol, known):
    from skysynth.eval.outpaint_eval import protocol_box

    assert protocol_box(protocol, 224) == known


@pytest.mark.parametrize("peer", ["resynthesizer", "patchmatch"])
def test_patch_based_peers_continue_the_sky_from_its_own_patches(peer):
    import numpy as np

    from skysynth.eval.baselines import fill, missing

    if missing(peer):
        pytest.skip(missing(peer))
    known = np.asarray(sky_image(48, 64, seed=5))
    out = fill(peer, known, (0, 0, 48, 0))  # grow the right side to twice the width
    assert out.shape == (64, 96, 3) and np.array_equal(out[:, :48], known)
    grown = out[:, 48:].astype(float)
    assert grown.std() > 0.5 * known.astype(float).std()  # texture, not a flat fill
    mirror = known[:, ::-1].astype(float)
    assert np.abs(grown - mirror).mean() > 2  # not a reflection of the input
    # Grown colours are the input's (patches copied, or blended where they overlap), not invented.
    source, grown_pixels = known.reshape(-1, 3).astype(float), grown.reshape(-1, 3)
    nearest = np.sqrt(((grown_pixels[:, None] - source[None]) ** 2).sum(-1)).min(1)
    assert nearest.mean() < 4


def test_missing_peer_is_skipped_with_one_line(monkeypatch):
    import importlib.util

    from skysynth.eval import baselines

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "resynthesizer" else real_find_spec(name, *args)

    monkeypatch.setattr(baselines.importlib.util, "find_spec", find_spec)
    assert "pip install" in baselines.missing("resynthesizer") and "\n" not in baselines.missing("resynthesizer")
    assert baselines.missing("reflect") is None
    assert "unknown baseline" in baselines.missing("gimp")


@pytest.mark.parametrize("size", [224, 96, 256])
def test_swd_patches_come_from_inside_the_region_at_every_level(size):
    """kornia pads a side that is no power of two (224 -> 256) before building the pyramid; the
    region must not be stretched over the padding (it was until session 12: at 224 px the
    left-half region took low-band patches from up to 57% of the width)."""
    from skysynth.eval.realism import pyramid_patches

    columns = torch.arange(size, dtype=torch.float32) / size
    ramp = columns.expand(2, 3, size, size).clone()  # each pixel holds its column's position
    left_half = torch.zeros(2, 1, size, size, dtype=torch.bool)
    left_half[..., : size // 2] = True
    levels = pyramid_patches(ramp, left_half, 2, 7, 256, torch.Generator().manual_seed(0))
    low_band_centres = levels[-1][:, 7 * 7 // 2]  # channel 0, centre pixel of each 7x7 patch
    assert len(levels) == 2
    assert float(low_band_centres.max()) < 0.5
    assert float(low_band_centres.min()) < 0.1  # and from all over the region, not one corner


def test_swd_and_kid_on_identical_blurred_and_sharp_sets():
    import numpy as np

    from skysynth.eval.realism import FeatureDistances, swd
    from skysynth.models.classifier import ClassifierConfig, CloudClassifier

    images = (
        torch.stack([torch.from_numpy(np.array(sky_image(64, 64, seed=s))).permute(2, 0, 1) for s in range(24)]).float()
        / 255
    )
    blurred = kornia.filters.gaussian_blur2d(images, (9, 9), (3.0, 3.0))
    assert swd(images, images) == 0.0
    assert swd(blurred[:12], images[12:]) > 2 * swd(images[:12], images[12:])
    torch.manual_seed(0)
    distances = FeatureDistances(CloudClassifier(ClassifierConfig(class_names=("a", "b"))), subset_size=12, subsets=10)
    same = distances(images, images)
    assert abs(same["kid"]) < 0.01 and abs(same["fid"]) < 1e-3
    # KID's subsets are seeded: the same sets give the same KID, whatever the global RNG did.
    classifier = distances.features.classifier
    subsampled = FeatureDistances(classifier, subset_size=6, subsets=10)
    first = subsampled(blurred[:12], images[12:])
    torch.rand(100)
    assert subsampled(blurred[:12], images[12:])["kid"] == first["kid"]
    reseeded = FeatureDistances(classifier, subset_size=6, subsets=10, seed=1)
    assert reseeded(blurred[:12], images[12:])["kid"] != first["kid"]


def test_cloud_type_eval_reports_hit_rates_per_type(tmp_path):
    """Labelled shards of two types, a tiny conditional MaskGIT and a classifier that calls every
    sky cumulus: the cumulus column hits, the cirrus column misses, and the table says so."""
    from skysynth.models.classifier import ClassifierConfig, CloudClassifier

    for folder, seed in (("1_cumulus", 500), ("3_cirrus", 600)):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        for i in range(16):
            sky_image(64, 64, seed=seed + i).save(tmp_path / "photos" / folder / f"p{i:03d}.jpg")
    cfg = OmegaConf.load(ROOT / "conf/prep/shards.yaml")
    cfg.pop("defaults"), cfg.pop("hydra")
    cfg.source, cfg.out, cfg.workers, cfg.progress = str(tmp_path / "photos"), str(tmp_path / "shards"), 1, False
    shards.run(cfg)
    classifier = CloudClassifier(ClassifierConfig(class_names=("1_cumulus", "3_cirrus"), channels=(8,), image_size=16))
    with torch.no_grad():
        classifier.head.weight.zero_()
        classifier.head.bias.copy_(torch.tensor([5.0, -5.0]))
    classifier.save_pretrained(tmp_path / "classifier")
    weights = tmp_path / "weights"
    tiny_vqvae().save_pretrained(weights / "tokenizer")
    tiny_maskgit(side=8, class_names=("cumulus", "cirrus")).save_pretrained(weights / "maskgit")
    cfg = eval_cfg(tmp_path, "cloud_type", protocol="right", size=32, downscale=1, per_type=2, sampling__decode_steps=2)
    cfg.weights, cfg.classifier, cfg.progress, cfg.out = (
        str(weights),
        str(tmp_path / "classifier"),
        False,
        str(tmp_path / "report"),
    )
    report = run(cfg)
    assert report["images"] == 4
    assert report["summary"]["cumulus"]["hit_rate"] == 1.0 and report["summary"]["cirrus"]["hit_rate"] == 0.0
    assert report["summary"]["cumulus"]["unconditional_rate"] == 1.0
    assert report["hits"] == {
        "cumulus -> cumulus": 1.0,
        "cumulus -> cirrus": 0.0,
        "cirrus -> cumulus": 1.0,
        "cirrus -> cirrus": 0.0,
    }
    assert "hit rate" in report["table"] and (tmp_path / "report" / "grid_cloud_types_right.png").is_file()
    unconditional = tmp_path / "plain"
    tiny_vqvae().save_pretrained(unconditional / "tokenizer")
    tiny_maskgit(side=8).save_pretrained(unconditional / "maskgit")
    cfg.weights = str(unconditional)
    with pytest.raises(ValueError, match="needs weights that grow cloud types"):
        run(cfg)


def test_blind_pairs_sheets_follow_the_key_and_the_score_counts_choices(tmp_path):
    import numpy as np
    from PIL import Image

    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    for k in range(6):  # method a is black, method b white: the sheet shows which side is which
        for method, value in (("truth", 128), ("a", 0), ("b", 255)):
            Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(images / f"{k:04d}_{method}.png")

    def blind(*args):
        return run_module("benchmarks.blind_pairs", *args)

    def make(out, b="b", *args):
        return blind("make", "--run", str(tmp_path / "run"), "--a", "a", "--b", b, "--out", str(out), *args)

    out = tmp_path / "blind"
    made = make(out, "b", "--n", "6", "--per-sheet", "4")
    assert made.returncode == 0, made.stderr
    sheets = sorted(out.glob("sheet_*.png"))
    assert len(sheets) == 2
    choices = []
    for sheet in sheets:  # a viewer who always picks the white picture
        pixels = np.asarray(Image.open(sheet).convert("L")).astype(int)
        for top in range(0, pixels.shape[0], 32 + 18 + 8):
            row = pixels[top + 18 + 16]
            choices.append("L" if row[16] > row[32 + 8 + 16] else "R")
    (tmp_path / "choices.txt").write_text(" ".join(choices))
    scored = blind("score", "--out", str(out), "--choices", str(tmp_path / "choices.txt"))
    assert scored.returncode == 0, scored.stderr
    result = json.loads((out / "score.json").read_text())
    assert result["b"]["chosen"] == 6 and result["a"]["chosen"] == 0
    assert result["b"]["ci95"][0] > 0.5 > result["a"]["ci95"][1]
    assert choices.count("L") not in (0, 6)  # the sides were shuffled
    (tmp_path / "short.txt").write_text("LLR")
    assert_one_line_error(blind("score", "--out", str(out), "--choices", str(tmp_path / "short.txt")), "has 3 choices")
    assert_one_line_error(make(tmp_path / "x", "b", "--n", "7"), "asked for 7")
    assert_one_line_error(make(tmp_path / "y", "a"), "give --name-a and --name-b")
    # Paired runs of two settings: --differing draws only the photos whose outputs differ.
    for k in (1, 4):
        Image.fromarray(np.full((32, 32, 3), 3, np.uint8)).save(images / f"{k:04d}_c.png")  # within 8 levels of a
    for k in (0, 2, 3, 5):
        Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(images / f"{k:04d}_c.png")
    made = make(tmp_path / "d", "c", "--n", "4", "--differing")
    assert made.returncode == 0, made.stderr
    drawn = {pair["photo"] for pair in json.loads((tmp_path / "d" / "key.json").read_text())["pairs"]}
    assert drawn == {"0000", "0002", "0003", "0005"}
    assert_one_line_error(make(tmp_path / "e", "c", "--n", "5", "--differing"), "4 photos with differing outputs")


def test_border_profile_finds_a_line_one_pixel_beyond_the_border(tmp_path):
    import numpy as np
    from PIL import Image

    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(3):  # right protocol on 32 px: the input is columns 0-15
        truth = rng.integers(60, 200, (32, 32, 3)).astype(np.uint8)
        lined = truth.copy()
        lined[:, 17] += 20  # a line at the second generated column
        Image.fromarray(truth).save(images / f"{k:04d}_truth.png")
        Image.fromarray(lined).save(images / f"{k:04d}_lined.png")

    def profile(run, *more):
        return run_module("benchmarks.border_profile", "--run", str(run), "--protocol", "right", *more)

    done = profile(tmp_path / "run", "--methods", "lined")
    assert done.returncode == 0, done.stderr
    table = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")]
    rows = {cells[1].strip(): cells[3:-1] for cells in table}
    header = [cell.strip() for cell in rows["method"]]
    lined = dict(zip(header, map(float, rows["lined"])))
    truth = dict(zip(header, map(float, rows["truth"])))
    assert abs(lined["+1"] - truth["+1"]) > 15 and abs(lined["+2"] - truth["+2"]) > 15  # up, then down
    assert all(lined[k] == truth[k] for k in ("-2", "-1", "+0", "+3", "+4"))
    assert_one_line_error(profile(tmp_path), "no NNNN_truth.png")


def test_jpeg_block_step_finds_the_codecs_block_edges(tmp_path):
    # Smooth skies saved as coarse JPEGs step more on their 8-pixel block edges; PNGs do not.
    for suffix, options in ((".jpg", {"quality": 20}), (".png", {})):
        folder = tmp_path / suffix[1:]
        folder.mkdir()
        for i in range(4):
            sky_image(64, 64, seed=40 + i).save(folder / f"p{i}{suffix}", **options)
    ratios = {}
    for kind in ("jpg", "png"):
        done = run_module("benchmarks.jpeg_block_step", "--data", str(tmp_path / kind), "--every", "1")
        assert done.returncode == 0, done.stderr
        columns = next(line for line in done.stdout.splitlines() if line.startswith("| columns"))
        ratios[kind] = float(columns.split("|")[4])
    assert ratios["jpg"] > 1.1 and abs(ratios["png"] - 1) < 0.1
    assert_one_line_error(run_module("benchmarks.jpeg_block_step", "--data", str(tmp_path / "none")), "not found")


def test_drift_profile_sees_brightness_growing_with_distance_from_the_border(tmp_path):
    import numpy as np
    from PIL import Image

    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for k in range(3):  # top protocol on 64 px: the input is rows 32-63, generated rows 0-31
        truth = rng.integers(60, 180, (64, 64, 3)).astype(np.uint8)
        drifting = truth.copy()
        distance = 31 - np.arange(32)  # 0 on the line next to the input
        drifting[:32] += (distance // 8 * 5).astype(np.uint8)[:, None, None]
        Image.fromarray(truth).save(images / f"{k:04d}_truth.png")
        Image.fromarray(drifting).save(images / f"{k:04d}_drifting.png")
        Image.fromarray(truth).save(images / f"{k:04d}_same.png")

    def profile(run, *more):
        return run_module("benchmarks.drift_profile", "--run", str(run), "--protocol", "top", *more)

    done = profile(tmp_path / "run", "--methods", "drifting", "same", "--band", "8")
    assert done.returncode == 0, done.stderr
    rows = {
        (cells[1].strip(), cells[3].strip()): [float(v) for v in cells[4:-1]]
        for cells in (line.split("|") for line in done.stdout.splitlines() if line.startswith("| "))
        if cells[1].strip() in ("drifting", "same")
    }
    assert rows[("drifting", "signed")] == pytest.approx([0, 5, 10, 15], abs=0.1)
    assert rows[("same", "signed")] == [0, 0, 0, 0] and rows[("same", "abs")] == [0, 0, 0, 0]
    assert_one_line_error(profile(tmp_path / "run", "--band", "0"), "--band")
    assert_one_line_error(profile(tmp_path), "no NNNN_truth.png")


def test_collapse_cases_lists_the_flat_fill_and_not_the_faithful_copy(tmp_path):
    import numpy as np
    from PIL import Image

    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for k in range(2):  # top protocol on 32 px: rows 0-15 grown
        truth = np.clip(rng.normal(128, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
        output = truth.copy()
        if k == 0:
            output[:16] = 120  # a flat fill where the truth is textured
        Image.fromarray(truth).save(images / f"{k:04d}_truth.png")
        Image.fromarray(output).save(images / f"{k:04d}_skysynth.png")

    def cases(run, *more):
        return run_module("benchmarks.collapse_cases", "--run", str(run), "--protocol", "top", *more)

    done = cases(tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert "1 of 2 counted as collapsed" in done.stdout and "1 below 0.01" in done.stdout
    assert "| 0000 |" in done.stdout and "| 0001 |" not in done.stdout
    assert_one_line_error(cases(tmp_path / "run", "--methods", "peer"), "has a peer output")
    assert_one_line_error(cases(tmp_path / "run", "--hard", "0.5"), "--hard")


def test_dark_spots_counts_a_lone_dark_blob_in_the_generated_sky_only(tmp_path):
    import numpy as np
    from PIL import Image

    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    rows, cols = np.mgrid[0:64, 0:64]
    sky = np.stack([60 + cols, 120 + cols, 200 + 0 * cols], -1).astype(float)  # a smooth gradient

    def blob(row, col):  # a token-sized dark spot, 40 grey levels deep
        return 40 * np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * 2.5**2))[..., None]

    for k in range(2):  # right protocol on 64 px: the input is columns 0-31
        for name, picture in {
            "truth": sky,
            "spotted": sky - blob(32, 48),  # in the generated sky
            "input_spot": sky - blob(32, 12),  # inside the input: not the method's
        }.items():
            Image.fromarray(picture.clip(0, 255).astype(np.uint8)).save(images / f"{k:04d}_{name}.png")

    def spots(run, *more):
        return run_module("benchmarks.dark_spots", "--run", str(run), "--protocol", "right", *more)

    done = spots(tmp_path / "run", "--methods", "spotted", "input_spot", "--isolation", "2.2")
    assert done.returncode == 0, done.stderr
    table = {line.split("|")[1].strip(): line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")}
    area = 48 * 16  # rows 8-55, columns 40-55: clear of the border and the edges by 8 px
    assert float(table["spotted"][4]) == round(1e4 / area, 2) and table["spotted"][5].strip() == "100%"
    assert float(table["input_spot"][4]) == 0 and float(table["truth"][4]) == 0
    for k in range(2):  # a white ball in the generated sky: bright, not dark
        picture = sky + blob(32, 48)
        Image.fromarray(picture.clip(0, 255).astype(np.uint8)).save(images / f"{k:04d}_ball.png")
    for bright, expected in (([], 0), (["--bright"], round(1e4 / area, 2))):
        done = spots(tmp_path / "run", "--methods", "ball", "spotted", "--isolation", "2.2", *bright)
        assert done.returncode == 0, done.stderr
        lines = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")]
        table = {cells[1].strip(): cells for cells in lines}
        assert float(table["ball"][4]) == expected
        assert float(table["spotted"][4]) == round(1e4 / area, 2) - expected  # the dark blob: only without --bright
    assert_one_line_error(spots(tmp_path), "no NNNN_truth.png")
    assert_one_line_error(spots(tmp_path / "run", "--scale", "0"), "--scale")


def test_smooth_grain_finds_speckle_on_smooth_sky_next_to_the_input_only(tmp_path):
    import numpy as np
    from PIL import Image

    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sky = np.full((64, 64, 3), [90.0, 140.0, 210.0])
    speckle = np.zeros((64, 64, 1))
    speckle[:, 34:50] = rng.normal(0, 6, (64, 16, 1))  # pixel grain beside the input (columns 0-31)
    far = np.zeros((64, 64, 1))
    far[:, 56:] = rng.normal(0, 6, (64, 8, 1))  # the same grain, but beyond --reach
    for k in range(2):  # right protocol on 64 px: the input is columns 0-31
        for name, picture in {"truth": sky, "speckled": sky + speckle, "far": sky + far}.items():
            Image.fromarray(picture.clip(0, 255).astype(np.uint8)).save(images / f"{k:04d}_{name}.png")

    def grain(*more):
        return run_module("benchmarks.smooth_grain", "--run", str(tmp_path / "run"), "--protocol", "right", *more)

    done = grain("--methods", "speckled", "far", "--reach", "18", "--smooth", "2")
    assert done.returncode == 0, done.stderr
    table = {line.split("|")[1].strip(): line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")}
    assert float(table["truth"][5]) < 0.5  # smooth, flat sky: no grain
    assert float(table["speckled"][5]) > 3 and table["speckled"][8].strip() == "100.0%"
    assert float(table["far"][5]) < 0.5 and table["far"][8].strip() == "0.0%"
    assert_one_line_error(grain("--reach", "4"), "--reach must be more than")


def test_peer_grid_puts_a_peer_beside_the_runs_outputs_on_the_same_photos(tmp_path):
    import numpy as np
    from PIL import Image

    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    truths = {}
    for k in range(3):
        truths[k] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(truths[k]).save(images / f"{k:04d}_truth.png")
        Image.fromarray(np.full((32, 32, 3), 40 * k, np.uint8)).save(images / f"{k:04d}_skysynth.png")
    out = tmp_path / "grid.png"

    def grid(*more):
        return run_module("benchmarks.peer_grid", "--run", str(tmp_path / "run"), "--protocol", "right", *more)

    done = grid("--peers", "reflect", "--n", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    chosen = [int(k) for k in done.stdout.split("photos ")[1].split(";")[0].split()]
    picture = np.asarray(Image.open(out).convert("RGB"))
    assert picture.shape == (3 * 36, 2 * 36, 3)  # rows truth, skysynth, reflect; 2 px white gaps

    def tile(row, column):
        return picture[row * 36 + 2 : row * 36 + 34, column * 36 + 2 : column * 36 + 34]

    for column, k in enumerate(chosen):
        assert np.array_equal(tile(0, column), truths[k]) and (tile(1, column) == 40 * k).all()
        # reflect padding of the kept left half (the right protocol), computed from the truth
        assert np.array_equal(tile(2, column), np.pad(truths[k][:, :16], ((0, 0), (0, 16), (0, 0)), mode="reflect"))
    assert_one_line_error(grid("--n", "4", "--out", str(out)), "3 photos")
    assert_one_line_error(grid("--n", "0", "--out", str(out)), "--n must be at least 1")


def test_flat_continuation_measures_the_generated_area_against_the_input_colour():
    from types import SimpleNamespace

    import numpy as np
    from PIL import Image

    from benchmarks import flat_continuation as flat

    class Shifted:
        """Grows every flat input 12 levels brighter (a tint), with no blotches."""

        def __call__(self, known, pad, generator, config):
            left, top, right, bottom = pad
            colour = np.asarray(known)[0, 0].astype(int)
            canvas = np.full((224, 224, 3), np.clip(colour + 12, 0, 255), np.uint8)
            canvas[top : 224 - bottom, left : 224 - right] = np.asarray(known)
            return SimpleNamespace(image=Image.fromarray(canvas))

    figures = flat.measure(Shifted(), None, seeds=1)
    # Every colour is below 243 in all channels, so each generated area is exactly 12 levels off.
    assert abs(figures["error"] - 12) < 1e-9 and abs(figures["error_max"] - 12) < 1e-9
    assert figures["std"] == 0
    assert flat.generated_area(Image.new("RGB", (224, 224)), "top").shape == (112, 224, 3)


def test_c2st_spread_repeats_the_test_over_seeds_and_pairs_runs(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, method in (("same", lambda truth: truth), ("flat", lambda truth: np.full_like(truth, 128))):
        images = tmp_path / name / "images"
        images.mkdir(parents=True)
        for k in range(12):
            truth = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)  # noise: nothing like a flat grey
            Image.fromarray(truth).save(images / f"{k:04d}_truth.png")
            Image.fromarray(method(truth)).save(images / f"{k:04d}_skysynth.png")

    def spread(*runs, more=()):
        fast = ["--seeds", "0", "1", "--steps", "10", "--size", "16", "--folds", "2", "--seam-crop", "16", *more]
        return run_module("benchmarks.c2st_spread", "--runs", *map(str, runs), "--protocol", "right", *fast)

    done = spread(tmp_path / "same", tmp_path / "flat")
    assert done.returncode == 0, done.stderr
    spreads, paired = done.stdout.split("Paired")

    def table(text):
        return {line.split("|")[1].strip(): line.split("|") for line in text.splitlines() if line.startswith("| ")}

    rows = table(spreads)
    # Outputs identical to their truths cannot be told apart: exactly one of each pair is right.
    assert float(rows["same"][3]) == 0.5 and float(rows["same"][4]) == 0 and rows["same"][2].strip() == "12"
    assert float(rows["flat"][3]) >= 0.9  # flat grey against noise: told apart
    assert float(table(paired)["flat"][2]) == pytest.approx(float(rows["flat"][3]) - 0.5, abs=1e-3)
    assert_one_line_error(spread(tmp_path / "nothing"), "no NNNN_truth.png")
    assert_one_line_error(spread(tmp_path / "same", more=("--folds", "1")), "--folds at least 2")


def test_band_energy_finds_the_scale_a_blurred_sky_lacks(tmp_path):
    import numpy as np
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[0:128, 0:128]
    for k in range(3):  # right protocol on 128 px: the input is columns 0-63
        gradient = 60 + 0.8 * rows + 0.3 * cols  # the large-scale part, untouched by a light blur
        grain = rng.normal(0, 10, (128, 128))
        truth = gradient + grain
        smooth = gradient + gaussian_filter(grain, 2.0)  # the finest bands lost
        for name, picture in {"truth": truth, "same": truth, "smooth": smooth}.items():
            rgb = np.repeat(picture[..., None], 3, -1).clip(0, 255).astype(np.uint8)
            Image.fromarray(rgb).save(images / f"{k:04d}_{name}.png")

    def energy(*more):
        return run_module("benchmarks.band_energy", "--run", str(tmp_path / "run"), "--protocol", "right", *more)

    done = energy("--methods", "same", "smooth")
    assert done.returncode == 0, done.stderr
    table = {
        cells[1].strip(): [float(v) for v in cells[3:-1]]
        for cells in (line.split("|") for line in done.stdout.splitlines() if line.startswith("| "))
        if cells[1].strip() in ("same", "smooth")
    }
    assert table["same"] == [1.0] * 7
    assert table["smooth"][0] < 0.2 and table["smooth"][1] < 0.5  # 0-1 and 1-2 px: blurred away
    assert table["smooth"][-1] == pytest.approx(1.0, abs=0.02)  # the gradient beyond 32 px: kept
    assert_one_line_error(energy("--methods", "peer"), "has no peer output")
    small = tmp_path / "small" / "images"
    small.mkdir(parents=True)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(small / "0000_truth.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(small / "0000_skysynth.png")
    small_run = run_module("benchmarks.band_energy", "--run", str(small.parent), "--protocol", "right")
    assert_one_line_error(small_run, "at least 97 px")
    no_run = run_module("benchmarks.band_energy", "--run", str(tmp_path), "--protocol", "right")
    assert_one_line_error(no_run, "no NNNN_truth.png")


def test_block_contrast_finds_the_block_with_a_hard_edged_patch(tmp_path):
    import numpy as np
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for k in range(4):  # right protocol on 64 px: the input is columns 0-31; 16-px blocks, 4 x 4
        truth = 120 + gaussian_filter(rng.normal(0, 40, (64, 64)), 3.0)  # soft clouds
        patched = truth.copy()
        patched[36:44, 52:60] += 60  # a bright hard-edged square inside block row 2, col 3
        for name, picture in {"truth": truth, "same": truth, "patched": patched}.items():
            rgb = np.repeat(picture[..., None], 3, -1).clip(0, 255).astype(np.uint8)
            Image.fromarray(rgb).save(images / f"{k:04d}_{name}.png")

    def contrast(*more):
        run = ("--run", str(tmp_path / "run"), "--protocol", "right", "--block", "16", "--blur", "1")
        return run_module("benchmarks.block_contrast", *run, *more)

    done = contrast("--methods", "same", "patched")
    assert done.returncode == 0, done.stderr
    same, patched = done.stdout.split("## right, patched")

    def grids(text):  # the two tables (ratio, share) as lists of row cells
        rows = [line.split("|")[2:-1] for line in text.splitlines() if line.startswith("| ") and "row" not in line]
        return rows[:4], rows[4:8]

    ratio, share = grids(same)
    assert all(cell.strip() == "in" for row in ratio for cell in row[:2])  # columns 0-31 touch the input
    assert {cell.strip() for row in ratio for cell in row[2:]} == {"1.00"}
    assert {cell.strip() for row in share for cell in row[2:]} == {"0.00"}
    ratio, share = grids(patched)
    assert float(ratio[2][3]) > 2 and share[2][3].strip() == "1.00"
    assert float(ratio[0][3]) == 1.0 and float(ratio[2][2]) == 1.0  # untouched blocks stay level
    assert "strongest block row 2, col 3" in patched
    assert_one_line_error(contrast("--methods", "peer"), "has no peer output")
    assert_one_line_error(contrast("--excess", "1"), "--excess > 1")
    no_run = run_module("benchmarks.block_contrast", "--run", str(tmp_path), "--protocol", "top")
    assert_one_line_error(no_run, "no NNNN")


def test_outpaint_speed_refuses_an_unknown_or_ill_typed_variant_setting():
    for setting, fragment in (("nosuch=1", "nosuch"), ("sampling.decode_steps=many", "sampling.decode_steps")):
        done = run_module("benchmarks.outpaint_speed", "--photos", "1", "--set", setting)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        errors = [line for line in done.stderr.splitlines() if ": error: " in line]
        assert len(errors) == 1 and fragment in errors[0], done.stderr
