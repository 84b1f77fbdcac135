"""VQ-VAE image tokenizer (van den Oord et al. 2017, https://arxiv.org/abs/1711.00937).

128x128 RGB -> 32x32 tokens from a small codebook, as in the skysynth thesis, plus the
remedies against dead codes that the field uses: a revival loss (the thesis's), dead-code
restart, an l2-normalised low-dimensional lookup (Yu et al. 2021, ViT-VQGAN), exponential
moving-average codebook updates (van den Oord et al. 2017, appendix; Razavi et al. 2019) and
k-means initialisation of the codebook. The stateful parts (EMA statistics, when to restart or
initialise) live in the LightningModule; this file holds the pure maths.
Images are (B, 3, H, W) floats in [0, 1]; H and W must be multiples of 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from skysynth.models.layers import ResBlock, Upsample, group_norm
from skysynth.models.pretrained import PretrainedMixin


@dataclass
class VQVAEConfig:
    """Architecture and loss weights of the tokenizer."""

    base_channels: int = 32
    channel_multipliers: tuple = (1, 2, 3)
    blocks_per_level: int = 1
    embed_dim: int = 32
    codebook_size: int = 128
    commitment_weight: float = 0.25
    codebook_weight: float = 1.0
    revival_weight: float = 0.01
    l2_normalized: bool = False
    # "loss": codes learn from the codebook loss by gradient (the thesis); "ema": codes are moving
    # averages of the encoder outputs assigned to them (the codebook loss is then not used).
    codebook_update: str = "loss"
    # 1 / Var(training pixels): the thesis's "K" that scales the reconstruction MSE.
    reconstruction_weight: float = 10.93

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_multipliers) - 1)


class Encoder(nn.Module):
    def __init__(self, config: VQVAEConfig):
        super().__init__()
        channels = [config.base_channels * m for m in config.channel_multipliers]
        self.conv_in = nn.Conv2d(3, channels[0], 3, padding=1)
        layers: list[nn.Module] = []
        for level, ch in enumerate(channels):
            prev = channels[max(level - 1, 0)]
            if level > 0:
                layers.append(nn.Conv2d(prev, ch, 3, stride=2, padding=1))
            layers += [ResBlock(ch, ch) for _ in range(config.blocks_per_level)]
        self.layers = nn.Sequential(*layers)
        self.norm_out = group_norm(channels[-1])
        self.conv_out = nn.Conv2d(channels[-1], config.embed_dim, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.layers(self.conv_in(images * 2.0 - 1.0))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, config: VQVAEConfig):
        super().__init__()
        channels = [config.base_channels * m for m in config.channel_multipliers][::-1]
        self.conv_in = nn.Conv2d(config.embed_dim, channels[0], 3, padding=1)
        layers: list[nn.Module] = []
        for level, ch in enumerate(channels):
            if level > 0:
                layers.append(Upsample(channels[level - 1], ch))
            layers += [ResBlock(ch, ch) for _ in range(config.blocks_per_level)]
        self.layers = nn.Sequential(*layers)
        self.norm_out = group_norm(channels[-1])
        self.conv_out = nn.Conv2d(channels[-1], 3, 3, padding=1)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        h = self.layers(self.conv_in(latents))
        return (self.conv_out(F.silu(self.norm_out(h))) + 1.0) / 2.0


class VectorQuantizer(nn.Module):
    """Nearest-codebook-entry lookup with straight-through gradients."""

    def __init__(self, config: VQVAEConfig):
        super().__init__()
        self.config = config
        self.codebook = nn.Parameter(torch.randn(config.codebook_size, config.embed_dim) * 0.1)

    def _lookup_space(self, vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(vectors, dim=-1) if self.config.l2_normalized else vectors

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, D) encoder vectors -> (N,) int64 indices of their nearest codes (L2)."""
        codes = self._lookup_space(self.codebook)
        flat = self._lookup_space(flat)
        distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codes.t() + codes.pow(2).sum(1)[None]
        return distances.argmin(dim=1)

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """Integer tokens (...,) -> code vectors (..., D) in the decoder's space."""
        return self._lookup_space(self.codebook)[indices]

    def revival_loss(self, flat: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """Pull every code unused in this batch toward its nearest encoder output (thesis)."""
        used = torch.zeros(self.config.codebook_size, dtype=torch.bool, device=flat.device)
        used[indices] = True
        unused = self._lookup_space(self.codebook[~used])
        if unused.shape[0] == 0:
            return flat.new_zeros(())
        target = self._lookup_space(flat.detach())
        distances = torch.cdist(unused, target).pow(2)
        return distances.min(dim=1).values.mean()


def kmeans(vectors: torch.Tensor, k: int, iterations: int, generator: torch.Generator) -> torch.Tensor:
    """(N, D) vectors -> (k, D) centroids by Lloyd's algorithm from k random vectors (N >= k).

    Empty clusters are re-seeded at the vector farthest from its centroid, so every code ends up
    owning some data.
    """
    if vectors.shape[0] < k:
        raise ValueError(f"k-means needs at least {k} vectors, got {vectors.shape[0]}")
    vectors = vectors.float()
    picks = torch.randperm(vectors.shape[0], generator=generator, device="cpu")[:k].to(vectors.device)
    centroids = vectors[picks].clone()
    for _ in range(iterations):
        distances = torch.cdist(vectors, centroids)
        nearest = distances.argmin(dim=1)
        counts = torch.bincount(nearest, minlength=k).float()
        sums = torch.zeros_like(centroids).index_add_(0, nearest, vectors)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        empty = torch.nonzero(~filled).flatten()
        if len(empty):
            far = distances.gather(1, nearest[:, None]).squeeze(1).topk(len(empty)).indices
            centroids[empty] = vectors[far]
    return centroids


def ema_codebook(
    cluster_size: torch.Tensor, embed_sum: torch.Tensor, counts: torch.Tensor, sums: torch.Tensor, decay: float
) -> torch.Tensor:
    """One EMA codebook step: update `cluster_size` (K,) and `embed_sum` (K, D) in place with this
    step's assignment `counts` and vector `sums`, and return the new codes (Laplace-smoothed)."""
    cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
    embed_sum.mul_(decay).add_(sums, alpha=1 - decay)
    total = cluster_size.sum()
    smoothed = (cluster_size + 1e-5) / (total + cluster_size.numel() * 1e-5) * total
    return embed_sum / smoothed[:, None]


class VQVAE(PretrainedMixin, nn.Module):
    """Tokenizer: `encode(images) -> tokens`, `decode(tokens) -> images`, `forward` for training."""

    config_class = VQVAEConfig
    model_type = "vqvae"

    def __init__(self, config: VQVAEConfig):
        super().__init__()
        if config.codebook_update not in ("loss", "ema"):
            raise ValueError(f"codebook_update must be 'loss' or 'ema', got {config.codebook_update!r}")
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantizer = VectorQuantizer(config)

    def _check(self, images: torch.Tensor) -> None:
        factor = self.config.downsample_factor
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) images, got {tuple(images.shape)}")
        if images.shape[-1] % factor or images.shape[-2] % factor:
            raise ValueError(f"image sides must be multiples of {factor}, got {tuple(images.shape[-2:])}")

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, H/4, W/4) int64 tokens."""
        self._check(images)
        latents = self.encoder(images).float()
        b, d, h, w = latents.shape
        flat = latents.permute(0, 2, 3, 1).reshape(-1, d)
        with torch.autocast(device_type=images.device.type, enabled=False):
            return self.quantizer.nearest(flat).view(b, h, w)

    def decode_latents(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, h, w) int64 tokens -> (B, D, h, w) code vectors."""
        return self.quantizer.embed(tokens).permute(0, 3, 1, 2)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, h, w) int64 tokens -> (B, 3, 4h, 4w) images (unclamped floats, ~[0, 1])."""
        return self.decoder(self.decode_latents(tokens))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training pass: returns reconstruction, tokens and each loss term separately.

        Under autocast (bf16 training) the encoder and decoder run in low precision, but the
        lookup and the codebook losses run in fp32: bf16 distances pick the wrong nearest code.
        """
        self._check(images)
        latents = self.encoder(images).float()
        b, d, h, w = latents.shape
        flat = latents.permute(0, 2, 3, 1).reshape(-1, d)
        with torch.autocast(device_type=images.device.type, enabled=False):
            indices = self.quantizer.nearest(flat)
            quantized = self.quantizer.embed(indices)
            flat_lookup = self.quantizer._lookup_space(flat)
            codebook_loss = F.mse_loss(quantized, flat_lookup.detach())
            commitment_loss = F.mse_loss(flat_lookup, quantized.detach())
            straight_through = flat_lookup + (quantized - flat_lookup).detach()
            revival = self.quantizer.revival_loss(flat, indices)
        reconstruction = self.decoder(straight_through.view(b, h, w, d).permute(0, 3, 1, 2)).float()
        mse = F.mse_loss(reconstruction, images)
        c = self.config
        codebook_weight = 0.0 if c.codebook_update == "ema" else c.codebook_weight
        loss = (
            c.reconstruction_weight * mse
            + codebook_weight * codebook_loss
            + c.commitment_weight * commitment_loss
            + c.revival_weight * revival
        )
        return {
            "loss": loss,
            "mse": mse,
            "codebook_loss": codebook_loss,
            "commitment_loss": commitment_loss,
            "revival_loss": revival,
            "reconstruction": reconstruction,
            "tokens": indices.view(b, h, w),
            "latents": flat.detach(),
        }
