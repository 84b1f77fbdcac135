"""Diffusion U-Net that restores the detail the tokenizer loses (Ho et al. 2020,
https://arxiv.org/abs/2006.11239; sampling as DDIM, Song et al. 2020).

Input: noisy "edges" (sharp - blurry) concatenated with the blurry image; output: predicted
noise. Schedules and sampling live in `skysynth.schedulers.noise`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from skysynth.models.layers import ResBlock, Upsample, group_norm
from skysynth.models.pretrained import PretrainedMixin


@dataclass
class UpscalerConfig:
    channels: tuple = (16, 32, 64, 128)
    blocks_per_level: int = 1
    noise_embed_dim: int = 32
    scale_factor: int = 2  # upscaling factor of the pipeline (the thesis: 4)
    edge_scale: float = 30.0  # edges (std ~0.03 on sky photos) x 30 ~ unit variance for the diffusion
    min_signal_rate: float = 0.02
    max_signal_rate: float = 0.95
    # "v": the network predicts v = signal * noise - noise_rate * edges (Salimans & Ho 2022), which
    # stays well-conditioned at high noise; "eps" (the thesis) predicts the noise, whose clean
    # estimate (x - noise_rate * eps) / signal amplifies errors 50x at signal rate 0.02.
    prediction: str = "v"

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.channels) - 1)


def sinusoidal_embedding(noise_rate: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) noise rates -> (B, dim) sin/cos features over log-spaced frequencies."""
    frequencies = torch.exp(torch.linspace(math.log(1.0), math.log(1000.0), dim // 2, device=noise_rate.device))
    angles = 2 * math.pi * noise_rate[:, None].float() * frequencies[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class UNet(PretrainedMixin, nn.Module):
    """`forward(noisy_edges, blurry, noise_rate) -> predicted noise`, all (B, 3, H, W) but noise_rate (B,)."""

    config_class = UpscalerConfig
    model_type = "upscaler"

    def __init__(self, config: UpscalerConfig):
        super().__init__()
        self.config = config
        ch = list(config.channels)
        embed = config.noise_embed_dim
        self.embed = nn.Sequential(nn.Linear(embed, embed * 2), nn.SiLU(), nn.Linear(embed * 2, embed * 2))
        self.conv_in = nn.Conv2d(6, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for level, c in enumerate(ch):
            prev = ch[max(level - 1, 0)]
            blocks = [ResBlock(prev if i == 0 else c, c, embed * 2) for i in range(config.blocks_per_level)]
            self.down.append(nn.ModuleList(blocks))
            if level < len(ch) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.middle = ResBlock(ch[-1], ch[-1], embed * 2)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(ch))):
            c = ch[level]
            blocks = [ResBlock((c * 2) if i == 0 else c, c, embed * 2) for i in range(config.blocks_per_level)]
            self.up.append(nn.ModuleList(blocks))
            if level > 0:
                self.upsample.append(Upsample(c, ch[level - 1]))
        self.norm_out = group_norm(ch[0])
        self.conv_out = nn.Conv2d(ch[0], 3, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, noisy_edges: torch.Tensor, blurry: torch.Tensor, noise_rate: torch.Tensor) -> torch.Tensor:
        m = self.config.multiple
        if noisy_edges.shape[-1] % m or noisy_edges.shape[-2] % m:
            raise ValueError(f"tile sides must be multiples of {m}, got {tuple(noisy_edges.shape[-2:])}")
        embedding = self.embed(sinusoidal_embedding(noise_rate, self.config.noise_embed_dim))
        h = self.conv_in(torch.cat([noisy_edges, blurry * 2 - 1], dim=1))
        skips = []
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, embedding)
            skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
        h = self.middle(h, embedding)
        for i, blocks in enumerate(self.up):
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, embedding)
            if i < len(self.upsample):
                h = self.upsample[i](h)
        return self.conv_out(F.silu(self.norm_out(h)))

    def predict_noise(self, noisy_edges: torch.Tensor, blurry: torch.Tensor, noise_rate: torch.Tensor) -> torch.Tensor:
        """The noise estimate the samplers use, whatever the network's own target is (fp32)."""
        out = self(noisy_edges, blurry, noise_rate).float()
        if self.config.prediction == "eps":
            return out
        # In fp32 even under bf16 autocast: near pure noise the noise rate (0.9998 at t = 1)
        # rounds to 1 in bf16, the signal rate to 0, and the network's output would drop out.
        noise_rate, signal = self._rates(noise_rate)
        return noise_rate * noisy_edges.float() + signal * out

    def predict_clean(self, noisy_edges: torch.Tensor, blurry: torch.Tensor, noise_rate: torch.Tensor) -> torch.Tensor:
        """The clean detail estimate (fp32), computed without dividing by a small signal rate
        where the network predicts v."""
        out = self(noisy_edges, blurry, noise_rate).float()
        noise_rate, signal = self._rates(noise_rate)
        if self.config.prediction == "eps":
            return (noisy_edges.float() - noise_rate * out) / signal
        return signal * noisy_edges.float() - noise_rate * out

    @staticmethod
    def _rates(noise_rate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise_rate = noise_rate.float().view(-1, 1, 1, 1)
        return noise_rate, torch.sqrt((1 - noise_rate**2).clamp_min(0))

    def training_target(self, edges: torch.Tensor, noise: torch.Tensor, noise_rate: torch.Tensor) -> torch.Tensor:
        """What `forward` should output for these clean edges, noise and noise rates (B,)."""
        if self.config.prediction == "eps":
            return noise
        noise_rate = noise_rate.view(-1, 1, 1, 1)
        signal = torch.sqrt((1 - noise_rate**2).clamp_min(0))
        return signal * noise - noise_rate * edges
