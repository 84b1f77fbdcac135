"""Classifier two-sample test (C2ST, Lopez-Paz & Oquab 2017, https://arxiv.org/abs/1610.06545).

Can a small CNN, trained from scratch, tell real photos from a method's outputs? Held-out
accuracy near 50% means the two sets look alike to it; 100% means every output gives itself
away. Unlike KID or SWD it needs no pretrained features and sees the whole picture at once: box
outlines, mirrored shapes and flat rectangles are exactly what it learns to spot.

Pairs stay together: the truth and the output of the same photo share their known part, so both
go into the same fold, and the classifier can only use what the method made. One fixed
architecture and training budget for every method, so accuracies compare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from skysynth.common.hardware import use_bf16

MIN_STEPS = 10  # fewer cannot train the classifier, and the one-cycle schedule fails at 5


@dataclass(frozen=True)
class C2STConfig:
    """The classifier and its budget: the same for every method compared."""

    folds: int = 5
    steps: int = 300  # optimizer steps per fold, whatever the number of photos
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    stem: int = 24  # a 4x4, stride-2 conv without normalisation first (normalising at full size is slow)
    widths: tuple = (32, 64, 96, 96)  # then one stride-2 stage each (224 px: 112 -> 56 -> 28 -> 14 -> 7)
    # fp32 by default: bf16 rounds away the fine grain that tells a blurred fill from a photo, and the
    # verdict must not depend on the CPU (None = bf16 where the hardware has it, for quick looks).
    bf16: bool | None = False

    def __post_init__(self):
        if self.steps < MIN_STEPS or self.folds < 2:
            raise ValueError(
                f"the C2ST needs at least {MIN_STEPS} steps and 2 folds, got {self.steps} and {self.folds}"
            )


class C2STNet(nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B,) logits of "generated"."""

    def __init__(self, stem: int = C2STConfig.stem, widths: tuple = C2STConfig.widths):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, stem, 4, stride=2, padding=1), nn.GELU()]
        previous = stem
        for width in widths:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.GroupNorm(4, width), nn.GELU()]
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(4, width), nn.GELU()]
            previous = width
        self.features = nn.Sequential(*layers)
        # Mean and max pooling: a defect in one place (a seam, a rectangle) is a local maximum.
        self.head = nn.Linear(2 * previous, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.features(images * 2.0 - 1.0)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.head(pooled).squeeze(1)


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if total == 0:
        return 0.0, 1.0
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def _train_fold(images: torch.Tensor, labels: torch.Tensor, config: C2STConfig, generator: torch.Generator) -> C2STNet:
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=generator)))
    net = C2STNet(config.stem, config.widths)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps, pct_start=0.2)
    net.train()
    bf16 = use_bf16(config.bf16, "cpu")
    order = torch.empty(0, dtype=torch.long)
    for _ in range(config.steps):
        if len(order) < config.batch_size:  # epochs without replacement, as many as the steps need
            order = torch.cat([order, torch.randperm(len(images), generator=generator)])
        batch, order = order[: config.batch_size], order[config.batch_size :]
        x, y = images[batch], labels[batch]
        flip = torch.rand(len(batch), generator=generator) < 0.5  # the same flips for both classes
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and x.device.type == "cpu"):
            logits = net(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return net.eval()


def two_sample_test(
    real: torch.Tensor, generated: torch.Tensor, config: C2STConfig = C2STConfig(), seed: int = 0, progress=None
) -> dict[str, float]:
    """Held-out accuracy of telling `real` (N, 3, H, W) from `generated` (N, 3, H, W), k-fold
    over the N pairs (real[i] and generated[i] always in the same fold).

    Returns accuracy, its 95% Wilson interval (over the 2N held-out predictions), the number of
    predictions, `per_pair` (N,) int64: how many of each pair's two images were told right (0-2),
    for breakdowns by kind of photo, and `generated_flagged` (N,) bool: which generated images the
    held-out classifier called generated. `progress(done, total)` is called after each fold."""
    if real.shape != generated.shape:
        shapes = f"{tuple(real.shape)} and {tuple(generated.shape)}"
        raise ValueError(f"real and generated must have one shape, got {shapes}")
    n = len(real)
    folds = min(config.folds, n)
    if folds < 2:
        raise ValueError(f"a two-sample test needs at least 2 pairs, got {n}")
    generator = torch.Generator().manual_seed(seed)
    fold_of = torch.randperm(n, generator=generator) % folds
    per_pair = torch.zeros(n, dtype=torch.long)
    flagged = torch.zeros(n, dtype=torch.bool)
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        images = torch.cat([real[train], generated[train]])
        labels = torch.cat([torch.zeros(int(train.sum())), torch.ones(int(train.sum()))])
        net = _train_fold(images, labels, config, generator)
        with torch.no_grad():
            real_says = net(real[test]) > 0
            generated_says = net(generated[test]) > 0
        per_pair[test] = (~real_says).long() + generated_says.long()
        flagged[test] = generated_says
        if progress is not None:
            progress(fold + 1, folds)
    correct, total = int(per_pair.sum()), 2 * n
    low, high = wilson_interval(correct, total)
    return {
        "accuracy": correct / total,
        "ci_low": low,
        "ci_high": high,
        "predictions": total,
        "per_pair": per_pair,
        "generated_flagged": flagged,
    }


def border_crops(
    images: torch.Tensor, box: tuple[int, int, int, int], crop: int, per_image: int, generator: torch.Generator
) -> torch.Tensor:
    """(N, 3, S, S) -> (N * per_image, 3, crop, crop) crops centred on the border of the input
    box (left, top, right, bottom) at random places along it; the same places for every method
    when the generator is seeded alike. Borders that touch the image's edge are not used."""
    size = images.shape[-1]
    left, top, right, bottom = box
    half = crop // 2
    sides = []  # (centre line, along from, along to, vertical?)
    if left > 0:
        sides.append((left, top, bottom, True))
    if right < size:
        sides.append((right, top, bottom, True))
    if top > 0:
        sides.append((top, left, right, False))
    if bottom < size:
        sides.append((bottom, left, right, False))
    if not sides:
        raise ValueError("the input box has no border inside the image")
    crops = []
    for image in images:
        for _ in range(per_image):
            line, start, stop, vertical = sides[int(torch.randint(0, len(sides), (), generator=generator))]
            low, high = max(start, half), min(stop, size - half)
            along = int(torch.randint(low, max(low + 1, high), (), generator=generator))
            across = min(max(line, half), size - half)
            y, x = (along, across) if vertical else (across, along)
            crops.append(image[:, y - half : y - half + crop, x - half : x - half + crop])
    return torch.stack(crops)
