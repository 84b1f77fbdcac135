"""task=cloud_type: does "grow this sky as cumulus" grow cumulus? Judged by the bundled classifier.

For validation photos of every cloud type (`per_type` of each, from the shards' labels), the
protocol's known part is outpainted towards each type the MaskGIT knows, and unconditionally
(`none`). The bundled cloud classifier then names the type of each output's generated area
(the mean of its probabilities over squares that lie wholly outside the input). Reported: the
hit rate per input type x requested type, the hit rate per requested type against the rate at
which unconditional outputs are given that type, and KID per requested type against the real
validation photos of that type.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from skysynth.common.cloud_types import cloud_type_of
from skysynth.common.images import save_grid
from skysynth.eval.common import markdown_table, validation_split, weights_dir
from skysynth.eval.outpaint_eval import input_mask, protocol_box, to_uint8
from skysynth.eval.realism import FeatureDistances
from skysynth.models.classifier import CloudClassifier


def generated_squares(box: tuple[int, int, int, int], size: int) -> list[tuple[int, int, int, int]]:
    """The largest squares (left, top, right, bottom) in the image's corners or sides that lie
    wholly outside the input box: what the classifier judges."""
    left, top, right, bottom = box
    candidates = [
        (0, 0, left, size),
        (right, 0, size, size),
        (0, 0, size, top),
        (0, bottom, size, size),  # side strips
    ]
    squares = []
    for x0, y0, x1, y1 in candidates:
        w, h = x1 - x0, y1 - y0
        side = min(w, h)
        if side < 16:
            continue
        # Tile the strip with squares of its short side (a 112x224 strip: two 112-px squares).
        steps = max(w, h) // side
        for k in range(steps):
            if w >= h:
                squares.append((x0 + k * side, y0, x0 + (k + 1) * side, y0 + side))
            else:
                squares.append((x0, y0 + k * side, x0 + side, y0 + (k + 1) * side))
    if not squares:
        raise ValueError("the protocol leaves no generated square of at least 16 px to classify")
    return squares


@torch.no_grad()
def classify_generated(classifier: CloudClassifier, images: torch.Tensor, squares) -> list[str]:
    """The cloud type of each image's generated area: the classifier's probabilities averaged
    over `squares`."""
    probabilities = 0
    for x0, y0, x1, y1 in squares:
        probabilities = probabilities + classifier(images[..., y0:y1, x0:x1]).softmax(-1)
    return [cloud_type_of(classifier.config.class_names[int(i)]) for i in probabilities.argmax(-1)]


def evaluate(cfg) -> dict:
    from skysynth.outpaint.config import to_config
    from skysynth.outpaint.pipeline import Outpainter

    size, seed = int(cfg.size), int(cfg.seed)
    box = protocol_box(cfg.protocol, size)
    left, top, right, bottom = box
    pad = (left, top, size - right, size - bottom)
    op = Outpainter.from_pretrained(cfg.get("weights"), config=to_config(cfg), device=cfg.device)
    requested = list(op.cloud_types)
    if not requested:
        raise ValueError(
            "task=cloud_type needs weights that grow cloud types (a class-conditional MaskGIT, a token classifier"
            " or a token prior)"
        )
    # GCD photos are 224 px: `size` 224 takes them whole; `downscale=` for other sources.
    photos, labels = validation_split(cfg.data, size, cfg.get("downscale") or 224 / size, cfg.val_fraction, seed)
    rng = np.random.default_rng(seed)
    inputs = []  # (photo index, its type), per_type of each type the MaskGIT knows
    for name in requested:
        of_type = [i for i, label in enumerate(labels) if label == name]
        inputs += [(int(i), name) for i in rng.permutation(of_type)[: int(cfg.per_type)]]
    if not inputs:
        raise ValueError(f"no validation photo of {cfg.data} has one of the types {', '.join(requested)}")
    classifier = CloudClassifier.from_pretrained(weights_dir(cfg.get("classifier"), "classifier")).to(cfg.device)
    squares = generated_squares(box, size)
    columns = [*requested, "none"]
    outputs = {name: [] for name in columns}
    for k, (index, _) in enumerate(tqdm(inputs, desc=f"cloud types ({cfg.protocol})", disable=not cfg.progress)):
        known = Image.fromarray(to_uint8(photos[index])[top:bottom, left:right])
        for name in columns:
            generator = torch.Generator(device=cfg.device).manual_seed(seed * 100003 + k)
            image = op(known, pad=pad, generator=generator, cloud_type=name).image
            outputs[name].append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255)
    stacked = {name: torch.stack(images) for name, images in outputs.items()}
    assigned = {
        name: classify_generated(classifier, images.to(cfg.device), squares) for name, images in stacked.items()
    }
    input_types = [name for _, name in inputs]
    hits = {
        (row, column): float(np.mean([a == column for a, t in zip(assigned[column], input_types) if t == row]))
        for row in requested
        for column in requested
        if row in input_types
    }
    features = FeatureDistances(classifier, subset_size=50, subsets=50, seed=seed)
    summary = {}
    for name in requested:
        real = photos[[i for i, label in enumerate(labels) if label == name]]
        kid = features(stacked[name], real)["kid"] if len(real) >= 2 else float("nan")
        summary[name] = {
            "hit_rate": float(np.mean([a == name for a in assigned[name]])),
            "unconditional_rate": float(np.mean([a == name for a in assigned["none"]])),
            "kid": kid,
        }
    present = [row for row in requested if row in input_types]
    matrix = markdown_table(
        ["input type \\ requested"] + requested,
        [[row] + [hits[(row, column)] for column in requested] for row in present],
    )
    rates = markdown_table(
        ["requested type", "hit rate", "unconditional rate", "ratio", "KID vs real photos of the type"],
        [
            [name, s["hit_rate"], s["unconditional_rate"], s["hit_rate"] / max(s["unconditional_rate"], 1e-9), s["kid"]]
            for name, s in summary.items()
        ],
    )
    grid_inputs = [next(k for k, (_, t) in enumerate(inputs) if t == row) for row in present]
    masked = photos[[inputs[k][0] for k in grid_inputs]] * input_mask(box, size)
    # Rows of the PNG: the inputs (dimmed outside), then each requested type; columns: one input per type.
    rows_grid = [masked] + [stacked[name][grid_inputs] for name in columns]
    grid = save_grid(rows_grid, f"{cfg.out}/grid_cloud_types_{cfg.protocol}.png")
    return {
        "protocol": cfg.protocol,
        "images": len(inputs),
        "hits": {f"{r} -> {c}": v for (r, c), v in hits.items()},
        "summary": summary,
        "table": f"{rates}\n\nHit rate per input type (rows) and requested type (columns):\n\n{matrix}",
        "grid": str(grid),
        "grid_rows": "input | " + " | ".join(columns) + " (columns: one input of each type)",
    }
