"""Cosine noise schedule and a deterministic DDIM sampler with known-pixel replacement.

x_t = signal_rate(t) * x_0 + noise_rate(t) * eps, with signal_rate = cos(angle(t)),
noise_rate = sin(angle(t)), the angle spanning signal rates max_signal..min_signal
(the thesis: 0.95..0.02). The network predicts eps; training and sampling both use this object.
"""

from __future__ import annotations

import math

import torch


class CosineNoiseSchedule:
    def __init__(self, min_signal_rate: float = 0.02, max_signal_rate: float = 0.95):
        if not 0 < min_signal_rate < max_signal_rate < 1:
            raise ValueError("need 0 < min_signal_rate < max_signal_rate < 1")
        self.start_angle = math.acos(max_signal_rate)
        self.end_angle = math.acos(min_signal_rate)

    def rates(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """t in [0, 1] (0 = cleanest) -> (signal_rate, noise_rate), each shaped like t."""
        angle = self.start_angle + t * (self.end_angle - self.start_angle)
        return torch.cos(angle), torch.sin(angle)

    def add_noise(self, clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        signal, noise_rate = self.rates(t.view(-1, *([1] * (clean.ndim - 1))))
        return signal * clean + noise_rate * noise

    def timesteps(self, steps: int) -> torch.Tensor:
        """steps + 1 times from 1 (pure noise) down to 0."""
        return torch.linspace(1.0, 0.0, steps + 1)

    @torch.no_grad()
    def sample(
        self,
        predict_noise,
        shape,
        steps: int,
        generator: torch.Generator,
        known: torch.Tensor | None = None,
        known_mask: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        draws: int = 1,
    ) -> torch.Tensor:
        """DDIM (eta = 0): start from noise, `steps` network calls, return the clean estimate.

        `predict_noise(x_t, noise_rate)` is the network. Where `known_mask` is true, the clean
        estimate is replaced by `known` at every step (RePaint-style), so overlapping tiles agree.

        `draws` > 1 runs the sampler that many times from independent noise and returns the mean:
        a Monte Carlo estimate of the conditional mean, which is what PSNR and SSIM reward (each
        single draw carries detail that depends on its noise; RESULTS.md, upscaler).
        """
        if steps < 1:
            raise ValueError("steps must be at least 1")
        if draws < 1:
            raise ValueError("draws must be at least 1")
        if draws > 1:
            estimates = [
                self.sample(predict_noise, shape, steps, generator, known, known_mask, device, dtype)
                for _ in range(draws)
            ]
            return torch.stack(estimates).mean(0)
        x = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        times = self.timesteps(steps).tolist()
        clean = x
        for t_now, t_next in zip(times[:-1], times[1:]):
            signal, noise_rate = self.rates(torch.tensor(t_now))
            eps = predict_noise(x, noise_rate.expand(shape[0]).to(device=device, dtype=dtype))
            clean = (x - noise_rate * eps) / signal
            if known is not None:
                clean = torch.where(known_mask, known, clean)
                eps = (x - signal * clean) / noise_rate
            signal_next, noise_next = self.rates(torch.tensor(t_next))
            x = signal_next * clean + noise_next * eps
        return clean


def sample_detail(
    net,
    blurry: torch.Tensor,
    steps: int,
    generator: torch.Generator,
    known: torch.Tensor | None = None,
    known_mask: torch.Tensor | None = None,
    draws: int = 1,
) -> torch.Tensor:
    """The upscaler's detail ("edges", x `edge_scale`) for `blurry` (B, 3, H, W): DDIM with
    `steps` network calls on `net`'s own schedule, mean of `draws` runs; where `known_mask` is
    true the detail is `known`. The sharp image is `blurry + detail / net.config.edge_scale`."""
    c = net.config
    schedule = CosineNoiseSchedule(c.min_signal_rate, c.max_signal_rate)
    return schedule.sample(
        lambda x, rate: net.predict_noise(x, blurry, rate),
        blurry.shape,
        steps,
        generator,
        known=known,
        known_mask=known_mask,
        device=blurry.device,
        dtype=blurry.dtype,
        draws=draws,
    )
