"""Does each finishing stage earn its place? Every stage of skysynth/outpaint/finish/ off in turn.

For validation photos of the center and right protocols (DESIGN.md): the pipeline with its
defaults, then with one finishing stage off (`finish.<stage>.enabled=false`), then `preset=raw`
(all the stages that move colour and detail off), and the peers (the patch-based tools and
reflect padding) in the same table. Each variant draws with the same seed per photo, so the
token canvases are the same and only the finishing differs. Judged by the two-sample classifier
test (whole images and crops on the input's border; 50% = real-looking), KID on the cloud
classifier's features, SWD and the ring error next to the input's border. A grid per protocol
(rows: truth, each variant, each peer) goes to --out for viewing (not committed: GCD photos).

    .venv/bin/python benchmarks/finish_ablation.py [--n 100] [--protocols center right] [--stages colour bands]
        [--weights FOLDER]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.common.images import save_grid  # noqa: E402
from skysynth.eval.baselines import BASELINES, fill, missing  # noqa: E402
from skysynth.eval.c2st import MIN_STEPS, C2STConfig  # noqa: E402
from skysynth.eval.common import markdown_table, weights_dir  # noqa: E402
from skysynth.eval.outpaint_eval import (  # noqa: E402
    evaluate_outputs,
    load_truths,
    protocol_box,
    realism_tests,
    to_uint8,
)
from skysynth.eval.realism import FeatureDistances  # noqa: E402
from skysynth.models.classifier import CloudClassifier  # noqa: E402
from skysynth.outpaint.config import OutpaintConfig, preset, with_overrides  # noqa: E402
from skysynth.outpaint.finish import FinishConfig  # noqa: E402
from skysynth.outpaint.pipeline import Outpainter  # noqa: E402

STAGES = [name for name in FinishConfig.__dataclass_fields__]


class GrowOnce(Outpainter):
    """The Outpainter, with each token canvas grown once per input and generator state: the
    variants differ only after growth, so they reuse it (the generator is left where growing
    left it, so everything after draws exactly as in an uncached call; `main` checks this on
    the first photo). A redraw starts from another generator state and grows afresh; a variant
    with other sampling or guard settings grows its own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grown = {}

    def _grow(self, call, samples):
        key = (
            call.canvas.input.numpy().tobytes(),
            call.generator.get_state().numpy().tobytes(),
            samples,
            repr(call.config.sampling),
            repr(call.config.guard),
        )
        if key not in self.grown:
            result = super()._grow(call, samples)
            self.grown[key] = (result, call.generator.get_state())
        result, state = self.grown[key]
        call.generator.set_state(state)
        return result


def variants(stages: list[str], extra: list[str] = ()) -> dict[str, OutpaintConfig]:
    """Defaults, each of `stages` off, each `extra` variant ("key=value;key=value"), the raw preset."""
    chosen = {"defaults": OutpaintConfig()}
    for stage in stages:
        chosen[f"{stage} off"] = with_overrides(OutpaintConfig(), {f"finish.{stage}.enabled": False})
    for text in extra:
        chosen[text] = with_overrides(OutpaintConfig(), text.split(";"))
    chosen["raw preset"] = preset("raw")
    return chosen


def ring_error(outputs: torch.Tensor, truths: torch.Tensor, box, width: int = 8) -> float:
    """Mean |colour difference| (grey levels) of output and truth, blurred, in the `width`-px ring
    just outside the input: a frame around the input shows here."""
    import kornia

    left, top, right, bottom = box
    size = truths.shape[-1]
    ring = torch.zeros(size, size, dtype=torch.bool)
    ring[max(0, top - width) : bottom + width, max(0, left - width) : right + width] = True
    ring[top:bottom, left:right] = False
    blur = lambda x: kornia.filters.box_blur(x, (9, 9))  # noqa: E731
    return float(((blur(outputs) - blur(truths)).abs().mean(1)[:, ring]).mean() * 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "work_data" / "gcd_shards"))
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--protocols", nargs="+", default=["center", "right"])
    parser.add_argument("--stages", nargs="*", default=STAGES, choices=STAGES)
    parser.add_argument(
        "--variant", action="append", default=[], help="an extra variant: 'key=value;key=value' (repeatable)"
    )
    parser.add_argument("--peers", nargs="*", default=["resynthesizer", "patchmatch", "reflect"], choices=BASELINES)
    parser.add_argument("--c2st-steps", type=int, default=C2STConfig.steps)
    parser.add_argument("--c2st-folds", type=int, default=C2STConfig.folds)
    parser.add_argument(
        "--c2st-size", type=int, default=224, help="whole images resized to this side for the test (224 = as made)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--weights", default=None, help="a folder of weights (tokenizer, maskgit, upscaler); default: the bundled ones"
    )
    parser.add_argument("--out", default=str(ROOT / "work_data" / "finish_ablation"))
    args = parser.parse_args()
    if args.c2st_folds < 2 or args.c2st_steps < MIN_STEPS or args.c2st_size < 32:
        parser.error(f"--c2st-folds must be >= 2, --c2st-steps >= {MIN_STEPS} and --c2st-size >= 32 (pixels)")
    try:
        chosen = variants(args.stages, args.variant)
    except ValueError as error:
        parser.error(f"--variant: {error}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.weights is not None and not Path(args.weights).is_dir():
        parser.error(f"--weights: {args.weights} is not a folder")
    op, plain = GrowOnce.from_pretrained(args.weights), Outpainter.from_pretrained(args.weights)
    peers = []
    for name in args.peers:
        reason = missing(name)
        if reason:
            print(reason, file=sys.stderr)
        else:
            peers.append(name)
    classifier = CloudClassifier.from_pretrained(weights_dir(None, "classifier"))
    for protocol in args.protocols:
        size = 224
        box = protocol_box(protocol, size)
        truths = load_truths(args.data, args.n, size, 0.05, args.seed, "validation")
        features = FeatureDistances(
            classifier, subset_size=max(min(50, len(truths) // 2), len(truths) // 3), subsets=100, seed=args.seed
        )
        left, top, right, bottom = box
        pad = (left, top, size - right, size - bottom)
        outputs = {name: [] for name in [*chosen, *peers]}
        seconds = {name: 0.0 for name in outputs}
        for i, truth in enumerate(tqdm(truths, desc=f"outpaint ({protocol})", unit="img")):
            known = Image.fromarray(to_uint8(truth)[top:bottom, left:right])
            op.grown.clear()
            for name, config in chosen.items():
                start = time.perf_counter()
                generator = torch.Generator().manual_seed(args.seed * 100003 + i)
                image = op(known, pad=pad, generator=generator, config=config).image
                seconds[name] += time.perf_counter() - start
                outputs[name].append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255)
                if i == 0:  # the reuse of grown tokens must not change a pixel
                    again = plain(
                        known, pad=pad, generator=torch.Generator().manual_seed(args.seed * 100003), config=config
                    )
                    assert np.array_equal(np.asarray(again.image), np.asarray(image)), f"{name}: cached growth differs"
            for name in peers:
                start = time.perf_counter()
                image = fill(name, np.asarray(known), pad)
                seconds[name] += time.perf_counter() - start
                outputs[name].append(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255)
        c2st = C2STConfig(steps=args.c2st_steps, folds=args.c2st_folds)
        rows = []
        for name in tqdm(outputs, desc="realism measures", unit="variant"):
            stacked = torch.stack(outputs[name])
            figures = evaluate_outputs(stacked, truths, box, features, args.seed)
            figures.update(realism_tests(stacked, truths, box, c2st, 96, args.seed, whole_size=args.c2st_size))
            rows.append(
                [
                    name if name in chosen else f"peer: {name}",
                    figures["c2st"],
                    figures["c2st_ci"],
                    figures["c2st_seam"],
                    figures["kid"],
                    figures["kid_std"],
                    figures["swd"],
                    ring_error(stacked, truths, box),
                    figures["seam"],
                    seconds[name] / len(truths) if name in ("defaults", *peers) else "-",  # the others reuse growth
                ]
            )
        header = [
            "variant",
            "C2ST",
            "C2ST 95% CI",
            "C2ST border crops",
            "KID",
            "KID std",
            "SWD x1e3",
            "ring error 0-8 px",
            "seam",
            "s/image",
        ]
        print(f"\n## protocol={protocol}, {len(truths)} validation photos\n")
        print(markdown_table(header, rows))
        columns = [truths[:8]] + [torch.stack(outputs[name][:8]) for name in outputs]
        grid = save_grid(columns, out / f"grid_{protocol}.png")
        print(f"\ngrid: {grid} (rows: truth, " + ", ".join(outputs) + "; columns: photos)")


if __name__ == "__main__":
    main()
