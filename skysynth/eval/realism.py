"""Distribution distances between generated and real skies: SWD, KID and FID.

- Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018,
  https://arxiv.org/abs/1710.10196): local texture statistics at several scales, restricted to
  the generated area.
- KID (unbiased, mean and spread over subsets) and FID (torchmetrics) on the features of the
  cloud-type classifier (`skysynth.models.classifier`).
"""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from skysynth.models.classifier import ClassifierFeatures, CloudClassifier


def pyramid_patches(
    images: torch.Tensor,
    region: torch.Tensor,
    levels: int,
    patch: int,
    per_image: int,
    generator: torch.Generator,
) -> list[torch.Tensor]:
    """Per Laplacian level, (N, 3*patch*patch) descriptors centred inside `region` (B, 1, H, W) bool.

    `levels` counts the returned bands: the finest band-pass level, ..., the low-pass residual.
    """
    height, width = images.shape[-2:]
    pyramid = kornia.geometry.transform.build_laplacian_pyramid(images.float(), levels)
    half = patch // 2
    out = []
    for level, layer in enumerate(pyramid):
        # kornia pads a side that is no power of two on the right and bottom (224 -> 256) and
        # every level is shaped from the padded size: the image occupies the top-left corner.
        # Crop to it, so that the region is not stretched over the padding (sessions 1-11 did).
        layer = layer[..., : max(1, height >> level), : max(1, width >> level)]
        mask = F.interpolate(region.float(), size=layer.shape[-2:], mode="area") > 0.5
        mask[..., :half, :] = False
        mask[..., -half:, :] = False
        mask[..., :, :half] = False
        mask[..., :, -half:] = False
        centres = mask[..., half : layer.shape[-2] - half, half : layer.shape[-1] - half].flatten(1)
        descriptors = []
        for b in range(images.shape[0]):
            candidates = torch.nonzero(centres[min(b, centres.shape[0] - 1)]).flatten()
            if len(candidates) == 0:
                continue
            picks = candidates[torch.randint(len(candidates), (per_image,), generator=generator)]
            # One image at a time: all patches of a 445-photo set at once took ~12 GB.
            unfolded = F.unfold(layer[b : b + 1], patch, padding=0)  # (1, 3*p*p, (H-p+1)*(W-p+1))
            descriptors.append(unfolded[0, :, picks].T)
        if descriptors:
            out.append(torch.cat(descriptors))
    return out


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: int, generator: torch.Generator) -> float:
    """SWD between two descriptor sets (rows), after joint per-dimension standardisation."""
    n = min(len(a), len(b))
    a, b = a[:n].double(), b[:n].double()
    both = torch.cat([a, b])
    mean, std = both.mean(0), both.std(0).clamp_min(1e-8)
    a, b = (a - mean) / std, (b - mean) / std
    directions = torch.randn(a.shape[1], projections, generator=generator, dtype=torch.float64)
    directions /= directions.norm(dim=0, keepdim=True)
    pa, _ = torch.sort(a @ directions, dim=0)
    pb, _ = torch.sort(b @ directions, dim=0)
    return float((pa - pb).abs().mean())


def swd_per_level(
    fake: torch.Tensor,
    real: torch.Tensor,
    region: torch.Tensor | None = None,
    levels: int = 2,
    patch: int = 7,
    per_image: int = 64,
    projections: int = 128,
    seed: int = 0,
) -> list[float]:
    """SWD (x 1e3 for reading) between patches of `fake` and `real` inside `region` (1, 1, H, W)
    bool, per pyramid level: the finest band first, the low-pass residual last."""
    generator = torch.Generator().manual_seed(seed)
    if region is None:
        region = torch.ones(1, 1, *fake.shape[-2:], dtype=torch.bool)
    fake_region = region.expand(fake.shape[0], 1, -1, -1).cpu()
    real_region = region.expand(real.shape[0], 1, -1, -1).cpu()
    # Both sets draw patch positions from the same seed: identical sets give exactly 0.
    fake_sets = pyramid_patches(fake.cpu(), fake_region, levels, patch, per_image, torch.Generator().manual_seed(seed))
    real_sets = pyramid_patches(real.cpu(), real_region, levels, patch, per_image, torch.Generator().manual_seed(seed))
    return [1e3 * sliced_wasserstein(f, r, projections, generator) for f, r in zip(fake_sets, real_sets)]


def swd(fake: torch.Tensor, real: torch.Tensor, region: torch.Tensor | None = None, **kwargs) -> float:
    """Mean over pyramid levels of `swd_per_level` (x 1e3 for reading)."""
    distances = swd_per_level(fake, real, region, **kwargs)
    return sum(distances) / max(1, len(distances))


class FeatureDistances:
    """KID and FID of image sets against a real set, on classifier features."""

    def __init__(self, classifier: CloudClassifier, subset_size: int = 50, subsets: int = 50, seed: int = 0):
        self.features = ClassifierFeatures(classifier)
        self.subset_size, self.subsets, self.seed = subset_size, subsets, seed

    def __call__(self, fake: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
        n = min(len(fake), len(real))
        kid = KernelInceptionDistance(
            feature=self.features, subsets=self.subsets, subset_size=min(self.subset_size, n), normalize=True
        )
        fid = FrechetInceptionDistance(feature=self.features, normalize=True)
        for metric in (kid, fid):
            metric.update(real.float().cpu(), real=True)
            metric.update(fake.float().cpu(), real=False)
        # KID's subsets are drawn from the global RNG: seeded here (and the caller's RNG left as it
        # was), so the same outputs get the same KID in every run and methods share subsets.
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            kid_mean, kid_std = kid.compute()
        return {"kid": float(kid_mean), "kid_std": float(kid_std), "fid": float(fid.compute())}
