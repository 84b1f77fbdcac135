"""The Outpainter: tokenize, grow tokens, decode, upscale, paste the input back.

from skysynth import Outpainter
op = Outpainter.from_pretrained()            # bundled weights, offline
bigger = op(image, size=(1024, 512), generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from skysynth.flatness import luminance_std
from skysynth.models.maskgit import MaskGIT
from skysynth.models.upscaler import UNet
from skysynth.models.vqvae import VQVAE
from skysynth.outpaint.closing import close_circle, closing_overlap, open_circle, open_periodic
from skysynth.outpaint.growth import grow_tokens, growth_plan
from skysynth.outpaint.harmonize import (
    add_grain,
    box_mask,
    continue_trend,
    harmonize_border,
    match_bands,
    match_detail,
    mirror_feather,
    transfer_colour,
    transfer_detail,
)
from skysynth.outpaint.layout import Layout, plan, plan_wrapped
from skysynth.outpaint.tiling import decode_windows, tile_starts, upscale_tiles
from skysynth.schedulers.masking import GuardedSampler, MaskGITSampler
from skysynth.schedulers.noise import sample_detail
from skysynth.weights import bundled_path


@dataclass
class OutpaintSettings:
    decode_steps: int = 12
    temperature: float = 4.0  # Gumbel-noise scale of confidences (the thesis's temperature)
    sampling_temperature: float = 1.0  # softmax temperature of token draws (RESULTS.md: 1.0 has the lowest KID)
    top_p: float = 1.0  # nucleus filtering of token draws (1.0 = off)
    order: str = "confidence"  # or "halton"
    upscale_steps: int = 1  # benchmarks/RESULTS.md: 1 step beats 8 on PSNR and SSIM at the same detail energy
    # The upscaler's estimate is the mean of this many independent draws. Restoring a known image,
    # 4 draws beat bicubic on PSNR and SSIM; here it invents detail for generated sky, where one
    # draw's texture is more realistic (RESULTS.md: SWD 196 vs 228 center, 261 vs 301 right).
    upscale_draws: int = 1
    upscale_tile: int = 256
    upscale_overlap: int = 32
    decode_window: int = 64  # tokens per decoder window
    collapse_guard: bool = True  # redraw windows that collapse to one flat token (GuardedSampler)
    # RESULTS.md: 6 redraws took collapse lowest, but with the stage-2 MaskGIT and the 0.01 exemption
    # they made the thesis's 1024x512 job 42 s; 3 redraws keep it under the 30-s target.
    collapse_retries: int = 3
    # The guard also judges decoded pixels: a window whose generated part is flat while its known
    # part is not is redrawn too (catches flat areas made of several similar ids).
    collapse_guard_pixels: bool = True
    # ...unless its known part is flatter than this (luminance std): a clear sky may stay clear.
    # RESULTS.md (issue 9): 0.02 -> 0.01 took the tuning split's collapse from 2.6% to 0.8%.
    collapse_known_flat_std: float = 0.01
    # Each redraw of a collapsed window may draw its tokens this much hotter (softmax temperature);
    # off by default: hotter draws passed the guard as speckle on grey skies (RESULTS.md).
    collapse_retry_temperature_step: float = 0.0
    # ...and in this unmasking order (None = the first draw's), from the redraw after
    # collapse_retry_order_after on. Halton redraws halve the collapsed windows (RESULTS.md,
    # issue 9: tuning split, 3 redraws, 3.9% -> 1.8%) but made the outputs less realistic
    # (KID and FID worse in both protocols, tuning and validation), so they are off by default.
    collapse_retry_order: str | None = None
    collapse_retry_order_after: int = 0
    # Last line of defence: a finished output whose generated area is flatter than
    # collapse_flat_std (luminance std, the evaluation's collapse criterion) while its input is
    # not (collapse_known_flat_std) is drawn again, up to this many times; the most detailed
    # draw is kept.
    collapse_output_retries: int = 2
    collapse_flat_std: float = 0.02
    # ...with its own exemption, lower than the windows': an input with std 0.005-0.01 is a
    # nearly clear sky whose wider view often is not (validation: the truth's ring varied beyond
    # 0.02 around 6 of 26 such inputs, all five collapses of session 10; RESULTS.md); a perfectly
    # clear input may still stay clear.
    collapse_output_known_flat_std: float = 0.005
    # Fade the input's colours into the generated sky over about this many tokens (0 = off);
    # see skysynth.outpaint.harmonize.
    harmonize_tokens: float = 3.0
    harmonize_fine_tokens: float = 0.5  # a second, narrow pass that also matches fine detail at the border
    # Last step before the input is pasted back: next to the input the output starts as the
    # input's mirror image and fades to the generated sky over this many tokens (0 = off), so the
    # border line has the texture of a line inside a photo (skysynth.outpaint.harmonize).
    border_feather_tokens: float = 2.0  # RESULTS.md: input-border seam 2.27 -> 0.82 (center protocol)
    # Panoramas and tiles: the two growth fronts meeting opposite the input overlap by this many
    # tokens and are cross-faded (skysynth.outpaint.closing); 0 = one closing window sees both ends.
    closing_overlap_tokens: int = 16
    # Tokens drift in colour far from the input: the generated area's low band gets the input's
    # per-channel mean and std (scale clamped to colour_std_range). RESULTS.md, issue 10.
    colour_transfer: bool = True
    # A sky varies more over a wide ring than along the input's border: contrast is lowered by at
    # most a quarter (0.5 flattened low-contrast skies into collapsed outputs; RESULTS.md).
    colour_std_range: tuple[float, float] = (0.75, 2.0)
    # ...measured in bands this wide either side of the input's border (0 = the whole areas).
    colour_band_tokens: float = 4.0
    # Generated sky is smoother at the pixel scale than the photo: after the detail transfer its
    # finest band is raised to the input's energy, by at most this factor (1 = off). RESULTS.md:
    # 2 keeps most of 3's gain in SWD with less crunch on clouds.
    detail_gain_max: float = 2.0
    # The input's brightness/colour gradient continues into the generated area (a plane fitted to
    # the input, its extrapolation saturating after this many input half-sizes; 0 = off).
    trend_saturation: float = 2.0
    # The generated area's finest detail is replaced by the input's own, tile by tile (nearest
    # blurred-colour match), before the gain above; off = the gain alone. RESULTS.md, issue 10.
    detail_transfer: bool = True
    detail_choices: int = 4  # each tile takes one of its this-many nearest input tiles (no wallpaper)
    # Tiles every half tile, cross-faded (Hann window): butted 8-px tiles showed as a grid of dots.
    detail_overlap: bool = True
    # ...but no grainier than the input's typical tile or this many times the generated tile's own
    # detail (a cloud rim's grain copied onto smooth sky reads as a pattern; RESULTS.md).
    detail_cap: float = 1.5
    # ...and only near the input: fully within the first many tokens of its border, fading out by
    # the second (a photo's grain tiled over a wide sky weaves a visible pattern; RESULTS.md).
    detail_reach_tokens: tuple[float, float] = (4.0, 8.0)
    # Beyond that reach the sky gets the input's grain as noise instead (no pattern to repeat):
    # each tile is raised towards the finest-band RMS the input has where it looks alike, times this
    # (0 = off). RESULTS.md, issue 10.
    grain_strength: float = 1.0
    # Each band between blurs of these many tokens (0.125 token = 1 px at the bundled scale) gets
    # the input's energy in that band, the gain clamped to `band_gain_range` and faded in over
    # `band_ramp_tokens` from the input (`match_bands`; RESULTS.md, issue 10: center KID 0.010 ->
    # -0.010 on the tuning split, smooth skies no longer blotched).
    band_match: bool = True
    band_match_tokens: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
    band_gain_range: tuple[float, float] = (0.2, 1.25)
    band_ramp_tokens: float = 1.0


class _StageClock:
    """Wall time per pipeline stage (synchronising CUDA so the split is honest)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> (1, 3, H, W) float in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    array = (tensor.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array)


class Outpainter:
    """Chains the three trained networks. Devices are the caller's: `.to(device)`."""

    def __init__(
        self, tokenizer: VQVAE, maskgit: MaskGIT, upscaler: UNet | None, settings: OutpaintSettings | None = None
    ):
        self.tokenizer, self.maskgit, self.upscaler = tokenizer.eval(), maskgit.eval(), upscaler
        if upscaler is not None:
            upscaler.eval()
        self.settings = settings or OutpaintSettings()
        if tokenizer.config.codebook_size != maskgit.config.codebook_size:
            raise ValueError("tokenizer and MaskGIT disagree on the codebook size")

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        settings: OutpaintSettings | None = None,
        device: str | torch.device = "cpu",
    ) -> Outpainter:
        """Load tokenizer/, maskgit/ and upscaler/ from `path` (default: the bundled weights)."""
        root = Path(path) if path else bundled_path("tokenizer").parent
        tokenizer = VQVAE.from_pretrained(root / "tokenizer")
        maskgit = MaskGIT.from_pretrained(root / "maskgit")
        upscaler = UNet.from_pretrained(root / "upscaler") if (root / "upscaler" / "config.json").is_file() else None
        return cls(tokenizer, maskgit, upscaler, settings).to(device)

    def to(self, device) -> Outpainter:
        self.device = torch.device(device)
        for net in (self.tokenizer, self.maskgit, self.upscaler):
            if net is not None:
                net.to(self.device)
        return self

    @property
    def scale_factor(self) -> int:
        return self.upscaler.config.scale_factor if self.upscaler is not None else 1

    @property
    def token_pixels(self) -> int:
        return self.tokenizer.config.downsample_factor * self.scale_factor

    on_progress = None  # optional callable(event dict): stage, done, total and, while growing, a preview

    @torch.no_grad()
    def token_preview(self, tokens: torch.Tensor, known: torch.Tensor) -> Image.Image:
        """The token canvas decoded at the model's scale, not-yet-generated tokens in grey."""
        image = self.tokenizer.decode(tokens[None]).clamp(0, 1)[0]
        p = self.tokenizer.config.downsample_factor
        shown = known.repeat_interleave(p, 0).repeat_interleave(p, 1)
        return to_image(torch.where(shown, image, torch.full_like(image, 0.5)))

    def plan(self, input_size, size=None, grow=None, pad=None) -> Layout:
        return plan(input_size, self.token_pixels, size=size, grow=grow, pad=pad)

    @torch.no_grad()
    def __call__(
        self,
        image: Image.Image,
        size=None,
        grow=None,
        pad=None,
        samples: int = 1,
        generator: torch.Generator | None = None,
        upscale: bool = True,
        progress: bool = False,
    ):
        """Outpaint `image` to `size=(W, H)` (centred), `grow=F` or `pad=(L, T, R, B)`.

        Returns a PIL image, or a list of `samples` images when samples > 1. The input's own
        pixels come back unchanged. Same generator seed, same picture.
        """
        if size is None and grow is None and pad is None:
            grow = 2.0
        layout = self.plan(image.size, size=size, grow=grow, pad=pad)
        return self._generate(image, layout, (False, False), samples, generator, upscale, progress)

    @torch.no_grad()
    def panorama(
        self,
        image: Image.Image,
        width: int | None = None,
        height: int | None = None,
        samples: int = 1,
        generator: torch.Generator | None = None,
        upscale: bool = True,
        progress: bool = False,
    ):
        """A 360-degree strip: the sky grown sideways until it closes on itself.

        `width` (default: 4x the input's width, at least 2x its height) is the full circle; it is
        rounded up to a multiple of `wrap_unit` pixels. The last column continues into the first:
        the strip can be used as an equirectangular band or repeated sideways without a seam.
        `height` (default: the input's) grows the band up and down as in ordinary outpainting.
        """
        w, h = image.size
        width = width or max(4 * w, 2 * h)
        layout = plan_wrapped(image.size, self.token_pixels, (width, height or h), (False, True), self.wrap_unit)
        return self._generate(image, layout, (False, True), samples, generator, upscale, progress)

    @torch.no_grad()
    def tile(
        self,
        image: Image.Image,
        size: tuple[int, int] | None = None,
        samples: int = 1,
        generator: torch.Generator | None = None,
        upscale: bool = True,
        progress: bool = False,
    ):
        """A texture that tiles seamlessly in both directions (a torus canvas) around `image`.

        `size` (default: twice the input, each side) is rounded up to multiples of `wrap_unit`."""
        w, h = image.size
        size = size or (2 * w, 2 * h)
        layout = plan_wrapped(image.size, self.token_pixels, tuple(size), (True, True), self.wrap_unit)
        return self._generate(image, layout, (True, True), samples, generator, upscale, progress)

    @property
    def wrap_unit(self) -> int:
        """Circular sides are multiples of this many pixels, so that decoder windows repeat exactly."""
        return self.token_pixels * max(1, self.settings.decode_window // 2)

    def _generate(self, image, layout: Layout, wrap, samples, generator, upscale, progress):
        generator = generator or torch.Generator().manual_seed(0)
        sharp = to_tensor(image).to(self.device)
        outputs = self._run(sharp, layout, samples, generator, upscale and self.upscaler is not None, progress, wrap)
        left, top = layout.margin_x, layout.margin_y
        width, height = layout.output_size
        images = [to_image(o[:, top : top + height, left : left + width]) for o in outputs]
        return images[0] if samples == 1 else images

    def _run(self, sharp, layout: Layout, samples, generator, upscale, progress, wrap=(False, False)) -> torch.Tensor:
        """Draw `samples` outputs; redraw those whose generated area came out flat while the
        input is not (the output-level collapse guard), keeping the most detailed draw."""
        s = self.settings
        clock = _StageClock()
        self.timings = clock.seconds  # seconds per stage of the last call, for benchmarks and the UI
        result = self._draw(sharp, layout, samples, generator, upscale, progress, wrap, clock)
        if s.collapse_output_retries <= 0:
            return self._add_grain(result, sharp, layout, generator, wrap, clock)
        generated_area, input_area = self._judged_areas(layout, result.device)
        detail = luminance_std(result, generated_area)
        textured_input = luminance_std(result, input_area) >= s.collapse_output_known_flat_std
        collapsed = (detail < s.collapse_flat_std) & textured_input
        for _ in range(s.collapse_output_retries):
            if not bool(collapsed.any()):
                break
            redrawn = torch.nonzero(collapsed).flatten()
            again = self._draw(sharp, layout, len(redrawn), generator, upscale, progress, wrap, clock)
            again_detail = luminance_std(again, generated_area)
            better = again_detail > detail[redrawn]
            result[redrawn[better]] = again[better]
            detail[redrawn[better]] = again_detail[better]
            collapsed[redrawn] = detail[redrawn] < s.collapse_flat_std
        return self._add_grain(result, sharp, layout, generator, wrap, clock)

    def _add_grain(self, result, sharp, layout: Layout, generator, wrap, clock) -> torch.Tensor:
        """The input's grain as noise beyond the detail copy's reach (`add_grain`). Added after
        the collapse guard has chosen its draws: noise is not structure, and must not pass a flat
        sky as a detailed one."""
        s = self.settings
        if s.grain_strength <= 0:
            return result
        work_w, work_h = layout.work_size
        left, top, right, bottom = layout.input_box_work
        canvas_input = torch.zeros_like(result[:1])
        canvas_input[..., top:bottom, left:right] = sharp
        known_mask = box_mask(work_h, work_w, layout.input_box_work, result.device)
        # Where the copy reaches, the grain is the copy's; the noise fades in as the copy fades out.
        reach = tuple(t * self.token_pixels for t in s.detail_reach_tokens) if s.detail_transfer else None
        result = add_grain(
            result, canvas_input, known_mask, s.grain_strength, reach=reach, generator=generator, wrap=wrap
        )
        clock.lap("match input")
        return result

    @staticmethod
    def _judged_areas(layout: Layout, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 1, H, W) masks of the work canvas: the output's generated area and the input."""
        work_w, work_h = layout.work_size
        width, height = layout.output_size
        output_box = (layout.margin_x, layout.margin_y, layout.margin_x + width, layout.margin_y + height)
        input_area = box_mask(work_h, work_w, layout.input_box_work, device)
        return box_mask(work_h, work_w, output_box, device) & ~input_area, input_area

    def _draw(self, sharp, layout: Layout, samples, generator, upscale, progress, wrap, clock) -> torch.Tensor:
        s, f = self.settings, self.scale_factor
        tokens, known = self._initial_tokens(sharp, layout, samples)
        clock.lap("tokenize")
        window = self.maskgit.config.tokens_per_side
        kl, kt, _, _ = layout.known_tokens_box
        # Circular axes with room for it are cut open and closed by a cross-fade after decoding.
        overlap = closing_overlap(known, s.closing_overlap_tokens, wrap)
        tokens, known = open_circle(tokens, known, overlap)
        kt, kl = kt + overlap[0] // 2, kl + overlap[1] // 2
        grow_wrap = (wrap[0] and overlap[0] == 0, wrap[1] and overlap[1] == 0)
        sampler = MaskGITSampler(s.decode_steps, s.temperature, s.sampling_temperature, order=s.order, top_p=s.top_p)
        if s.collapse_guard:
            decode = (lambda t: self.tokenizer.decode(t).clamp(0, 1)) if s.collapse_guard_pixels else None
            sampler = GuardedSampler(
                sampler,
                retries=s.collapse_retries,
                decode=decode,
                known_flat_std=s.collapse_known_flat_std,
                retry_temperature_step=s.collapse_retry_temperature_step,
                retry_order=s.collapse_retry_order,
                retry_order_after=s.collapse_retry_order_after,
            )
        steps = len(growth_plan(known, window, (kt, kl), grow_wrap))
        done = iter(range(1, steps + 1))

        def on_window(current, known_now):
            if self.on_progress is not None:
                self.on_progress(
                    {
                        "stage": "grow tokens",
                        "done": next(done),
                        "total": steps,
                        "preview": lambda: self.token_preview(current[0], known_now),
                    }
                )

        with tqdm(total=steps, desc="grow tokens", unit="window", disable=not progress) as bar:
            fill = lambda window_tokens, unknown: sampler.sample(self.maskgit, window_tokens, unknown, generator)
            tokens = grow_tokens(tokens, known, window, (kt, kl), fill, bar.update, wrap=grow_wrap, on_window=on_window)
        clock.lap("grow tokens")
        p = self.tokenizer.config.downsample_factor
        decoded = decode_windows(self.tokenizer.decode, tokens, s.decode_window, p, wrap=grow_wrap)
        decoded = close_circle(decoded, overlap, p).clamp(0, 1)
        work_w, work_h = layout.work_size
        blurry = _resize_wrapped(decoded, (work_h, work_w), wrap)
        left, top, right, bottom = layout.input_box_work
        canvas_input = torch.zeros_like(blurry[:1])
        canvas_input[..., top:bottom, left:right] = sharp
        known_mask = box_mask(work_h, work_w, layout.input_box_work, blurry.device)
        if s.colour_transfer:
            blurry = transfer_colour(
                blurry,
                canvas_input,
                known_mask,
                self.token_pixels,
                tuple(s.colour_std_range),
                wrap,
                band=s.colour_band_tokens * self.token_pixels,
            )
        if s.trend_saturation > 0:
            blurry = continue_trend(blurry, canvas_input, layout.input_box_work, s.trend_saturation, wrap)
        for tokens_wide in (s.harmonize_tokens, s.harmonize_fine_tokens):
            blurry = harmonize_border(blurry, canvas_input, known_mask, tokens_wide * self.token_pixels, wrap)
        clock.lap("decode")
        if upscale and f >= 1:
            blurry = self._upscale(blurry, canvas_input, known_mask, generator, progress, wrap)
            clock.lap("upscale")
        if s.detail_transfer:
            blurry = transfer_detail(
                blurry,
                canvas_input,
                known_mask,
                choices=s.detail_choices,
                generator=generator,
                detail_cap=s.detail_cap,
                reach=tuple(t * self.token_pixels for t in s.detail_reach_tokens),
                wrap=wrap,
                overlap=s.detail_overlap,
            )
        # Then the finest band as a whole is raised to the input's energy (the capped copy leaves
        # smooth generated sky smoother than the photo).
        blurry = match_detail(blurry, canvas_input, known_mask, s.detail_gain_max, wrap=wrap)
        if s.border_feather_tokens > 0:
            band = s.border_feather_tokens * self.token_pixels
            blurry = mirror_feather(blurry, canvas_input, layout.input_box_work, band, wrap)
        if s.band_match:
            blurry = match_bands(
                blurry,
                canvas_input,
                layout.input_box_work,
                tuple(t * self.token_pixels for t in s.band_match_tokens),
                tuple(s.band_gain_range),
                s.band_ramp_tokens * self.token_pixels,
                wrap,
            )
        clock.lap("match input")
        return torch.where(known_mask, canvas_input, blurry)

    def _initial_tokens(self, sharp, layout: Layout, samples: int):
        """Encode the input at the model's scale; returns (B, H, W) tokens and the known mask."""
        f, p = self.scale_factor, self.token_pixels
        kl, kt, kr, kb = layout.known_tokens_box
        left, top, _, _ = layout.input_box_work
        # Crop to whole tokens (the partial border tokens are generated, then covered by input pixels).
        crop = sharp[..., kt * p - top : kb * p - top, kl * p - left : kr * p - left]
        small = F.interpolate(crop, scale_factor=1 / f, mode="bilinear", antialias=True) if f > 1 else crop
        known_tokens = self.tokenizer.encode(small.clamp(0, 1))
        width_t, height_t = layout.canvas_tokens
        tokens = torch.zeros(samples, height_t, width_t, dtype=torch.long, device=sharp.device)
        tokens[:, kt:kb, kl:kr] = known_tokens
        known = torch.zeros(height_t, width_t, dtype=torch.bool, device=sharp.device)
        known[kt:kb, kl:kr] = True
        return tokens, known

    def _upscale(self, blurry, canvas_input, known_mask, generator, progress, wrap=(False, False)):
        s, net = self.settings, self.upscaler
        m = net.config.multiple
        if any(wrap):
            # Tiles at the two ends of a circular axis never meet: cut the canvas open with a band
            # repeated at both ends, upscale it, and cross-fade the band's two versions of the detail.
            band = max(m, (2 * s.upscale_overlap) // m * m)
            opened = [open_periodic(x, band, wrap) for x in (blurry, canvas_input, known_mask)]
            edges = self._upscale_edges(*opened, generator, progress)
            overlap = (band if wrap[0] else 0, band if wrap[1] else 0)
            edges = close_circle(edges, overlap, 1)
        else:
            edges = self._upscale_edges(blurry, canvas_input, known_mask, generator, progress)
        return (blurry + edges / net.config.edge_scale).clamp(0, 1)

    def _upscale_edges(self, blurry, canvas_input, known_mask, generator, progress):
        """The upscaler's detail for `blurry`, tile by tile, keeping the input's own detail."""
        s, net = self.settings, self.upscaler
        scale = net.config.edge_scale
        m = net.config.multiple
        tile = max(m, s.upscale_tile // m * m)
        h, w = blurry.shape[-2:]
        pad_h, pad_w = (-h) % m, (-w) % m  # tiles must be multiples of the U-Net's factor
        blurry_p = F.pad(blurry, (0, pad_w, 0, pad_h), mode="replicate")
        known_edges = F.pad((canvas_input - blurry) * scale, (0, pad_w, 0, pad_h))
        mask = F.pad(known_mask, (0, pad_w, 0, pad_h)).expand(blurry.shape[0], 3, -1, -1)
        height, width = blurry_p.shape[-2:]
        tile_h, tile_w = min(tile, height), min(tile, width)

        def restore(blurry_tile, known_tile, mask_tile):
            return sample_detail(
                net, blurry_tile, s.upscale_steps, generator, known_tile, mask_tile, draws=s.upscale_draws
            )

        count = len(tile_starts(height, tile_h, s.upscale_overlap)) * len(tile_starts(width, tile_w, s.upscale_overlap))
        tiles_done = iter(range(1, count + 1))

        def tile_finished(n):
            bar.update(n)
            if self.on_progress is not None:
                self.on_progress({"stage": "upscale", "done": next(tiles_done, count), "total": count})

        with tqdm(total=count, desc="upscale", unit="tile", disable=not progress) as bar:
            edges = _upscale_grid(
                restore, blurry_p, known_edges, mask, tile_h, tile_w, s.upscale_overlap, tile_finished
            )
        return edges[..., :h, :w]


def _resize_wrapped(images: torch.Tensor, size: tuple[int, int], wrap) -> torch.Tensor:
    """Bicubic resize; circular axes are padded with their other end first, so the wrap stays smooth."""
    if not any(wrap):
        return F.interpolate(images, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
    margin = 4
    pad = (margin if wrap[1] else 0, margin if wrap[1] else 0, margin if wrap[0] else 0, margin if wrap[0] else 0)
    padded = F.pad(images, pad, mode="circular")
    fy, fx = size[0] / images.shape[-2], size[1] / images.shape[-1]
    big = F.interpolate(
        padded, size=(round(padded.shape[-2] * fy), round(padded.shape[-1] * fx)), mode="bicubic", align_corners=False
    )
    top, left = round(pad[2] * fy), round(pad[0] * fx)
    return big[..., top : top + size[0], left : left + size[1]].clamp(0, 1)


def _upscale_grid(restore, blurry, known_edges, mask, tile_h, tile_w, overlap, progress):
    if tile_h == tile_w:
        return upscale_tiles(restore, blurry, known_edges, mask, tile_h, overlap, progress)
    # A canvas thinner than one tile: a single row or column of tiles of the canvas's size.
    height, width = blurry.shape[-2:]
    tile = max(tile_h, tile_w)
    padded = F.pad(blurry, (0, max(0, tile - width), 0, max(0, tile - height)), mode="replicate")
    pad = (0, padded.shape[-1] - width, 0, padded.shape[-2] - height)
    edges = upscale_tiles(restore, padded, F.pad(known_edges, pad), F.pad(mask, pad), tile, overlap, progress)
    return edges[..., :height, :width]
