"""The Outpainter: tokenize, grow tokens, decode, upscale, finish, paste the input back.

from skysynth import Outpainter
op = Outpainter.from_pretrained()            # bundled weights, offline
bigger = op(image, size=(1024, 512), generator=torch.Generator().manual_seed(0)).image
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from skysynth.common.hardware import use_bf16
from skysynth.common.images import to_image, to_tensor
from skysynth.models.classifier import CloudClassifier
from skysynth.models.maskgit import MaskGIT
from skysynth.models.token_classifier import TokenCloudClassifier
from skysynth.models.token_prior import TokenTypePrior
from skysynth.models.upscaler import UNet
from skysynth.models.vqvae import VQVAE
from skysynth.outpaint.canvas import Canvas
from skysynth.outpaint.closing import close_circle, closing_overlap, open_circle
from skysynth.outpaint.cloud_type import is_named, resolve_cloud_type
from skysynth.outpaint.config import OutpaintConfig
from skysynth.outpaint.finish import Phases, build_phases, run_stages, without_input_matching
from skysynth.outpaint.growth import grid_margin, grow_tokens, growth_plan, initial_tokens, token_preview
from skysynth.outpaint.guards import flat_input, guarded_sampler, input_detail, redraw_flat_outputs
from skysynth.outpaint.layout import Layout, plan, plan_wrapped
from skysynth.outpaint.tiling import decode_windows, resize_wrapped, upscale_canvas
from skysynth.outpaint.timing import StageClock, StageProgress
from skysynth.schedulers.guidance import GuidedNet, TokenClassifierGuidance, TokenPriorGuidance
from skysynth.schedulers.masking import MaskGITSampler, SpotRepair, code_shares, repair_spots
from skysynth.weights import bundled_path


@dataclass
class OutpaintOutput:
    """What a call returns: the outputs and the wall time per stage (seconds)."""

    images: list[Image.Image]
    timings: dict[str, float] = field(default_factory=dict)
    cloud_type: str | None = None  # the cloud type grown (None = unconditional)

    @property
    def image(self) -> Image.Image:
        return self.images[0]


@dataclass
class _Call:
    """One call's state: never stored on the Outpainter, so concurrent calls cannot mix."""

    config: OutpaintConfig
    canvas: Canvas
    phases: Phases
    generator: torch.Generator
    upscale: bool
    progress: bool
    report: Callable[[dict], None]  # the caller's callback(event)
    cloud_type: str | None = None  # the type grown (None = unconditional)
    flat_input: bool = False  # judged once: a flat input may be continued flat (guards.py)
    input_detail: float = float("inf")  # the input's luminance std (guards.py)
    clock: StageClock = field(default_factory=StageClock)
    # (tokens, their decoded canvas) of the last whole-canvas decode: the spot repair's last look
    # is the picture _draw would decode again.
    decoded: tuple[torch.Tensor, torch.Tensor] | None = None


class Outpainter:
    """Chains the three trained networks. Devices are the caller's: `.to(device)`. `config` holds
    the defaults of every call; a call may override any part of it without changing it."""

    def __init__(
        self,
        tokenizer: VQVAE,
        maskgit: MaskGIT,
        upscaler: UNet | None,
        config: OutpaintConfig | None = None,
        classifier: CloudClassifier | None = None,
        token_classifier: TokenCloudClassifier | None = None,
        token_prior: TokenTypePrior | None = None,
    ):
        self.tokenizer, self.maskgit = tokenizer.eval(), maskgit.eval()
        self.upscaler = upscaler.eval() if upscaler is not None else None
        self.classifier = classifier.eval() if classifier is not None else None  # for cloud_type=auto
        # Steers the draws towards a cloud type (sampling.type_guidance), conditional MaskGIT or not.
        self.token_classifier = token_classifier.eval() if token_classifier is not None else None
        self.token_prior = token_prior.eval() if token_prior is not None else None  # sampling.type_prior
        self.config = config or OutpaintConfig()
        if tokenizer.config.codebook_size != maskgit.config.codebook_size:
            raise ValueError("tokenizer and MaskGIT disagree on the codebook size")
        if token_classifier is not None and token_classifier.config.codebook_size != maskgit.config.codebook_size:
            raise ValueError("the token classifier and the MaskGIT disagree on the codebook size")
        if token_prior is not None and token_prior.config.codebook_size != maskgit.config.codebook_size:
            raise ValueError("the token prior and the MaskGIT disagree on the codebook size")
        guides = [g.config.class_names for g in (token_classifier, token_prior) if g is not None]
        if len(guides) == 2 and guides[0] != guides[1]:
            raise ValueError("the token classifier and the token prior disagree on the cloud types")

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, config: OutpaintConfig | None = None, device="cpu"):
        """Load tokenizer/, maskgit/ and upscaler/ (and token_classifier/, token_prior/ where there
        are) from `path` (default: the bundled weights)."""
        root = Path(path) if path else bundled_path("tokenizer").parent

        def optional(model_class, name):
            return model_class.from_pretrained(root / name) if (root / name / "config.json").is_file() else None

        tokenizer = VQVAE.from_pretrained(root / "tokenizer")
        maskgit = MaskGIT.from_pretrained(root / "maskgit")
        upscaler = optional(UNet, "upscaler")
        token_classifier = optional(TokenCloudClassifier, "token_classifier")
        token_prior = optional(TokenTypePrior, "token_prior")
        grows_types = bool(maskgit.config.class_names) or token_classifier is not None or token_prior is not None
        classifier = CloudClassifier.from_pretrained(bundled_path("classifier")) if grows_types else None
        return cls(tokenizer, maskgit, upscaler, config, classifier, token_classifier, token_prior).to(device)

    @property
    def cloud_types(self) -> tuple[str, ...]:
        """The cloud types these weights can grow: the conditional MaskGIT's, else the token
        guides' (classifier or prior); () = none (unconditional only)."""
        if self.maskgit.config.class_names:
            return tuple(self.maskgit.config.class_names)
        guide = self.token_classifier or self.token_prior
        return tuple(guide.config.class_names) if guide is not None else ()

    def to(self, device) -> Outpainter:
        self.device = torch.device(device)
        for net in (
            self.tokenizer,
            self.maskgit,
            self.upscaler,
            self.classifier,
            self.token_classifier,
            self.token_prior,
        ):
            if net is not None:
                net.to(self.device)
        return self

    @property
    def scale_factor(self) -> int:
        return self.upscaler.config.scale_factor if self.upscaler is not None else 1

    @property
    def token_pixels(self) -> int:
        return self.tokenizer.config.downsample_factor * self.scale_factor

    @property
    def wrap_unit(self) -> int:
        """Circular sides are multiples of this many pixels, so that decoder windows repeat exactly."""
        return self.token_pixels * max(1, self.config.decode.window // 2)

    def plan(self, input_size, size=None, grow=None, pad=None) -> Layout:
        return plan(input_size, self.token_pixels, size=size, grow=grow, pad=pad)

    def __call__(self, image: Image.Image, size=None, grow=None, pad=None, **call) -> OutpaintOutput:
        """Outpaint `image` to `size=(W, H)` (centred), `grow=F` or `pad=(L, T, R, B)` (grow=2 if none).

        Per call (keywords): `samples` (default 1), `generator` (default seed 0), `config` (an
        OutpaintConfig replacing the Outpainter's), `temperature`, `decode_steps`, `cloud_type` and
        `guidance_scale` (its sampling fields), `upscale` (False = skip the upscaler),
        `callback(event)` (stage, done, total and, while growing, a `preview()`), `progress` (tqdm
        bars). The input's own pixels come back unchanged; the same seed gives the same picture."""
        if size is None and grow is None and pad is None:
            grow = 2.0
        return self._generate(image, self.plan(image.size, size=size, grow=grow, pad=pad), (False, False), **call)

    def panorama(self, image: Image.Image, width: int | None = None, height: int | None = None, **call):
        """A 360-degree strip: the sky grown sideways until it closes on itself.

        `width` (default: 4x the input's width, at least 2x its height) is the full circle, rounded
        up to a multiple of `wrap_unit` pixels: the last column continues into the first. `height`
        (default: the input's) grows the band up and down. Per-call keywords as in `__call__`."""
        w, h = image.size
        width = width or max(4 * w, 2 * h)
        layout = plan_wrapped(image.size, self.token_pixels, (width, height or h), (False, True), self.wrap_unit)
        return self._generate(image, layout, (False, True), **call)

    def tile(self, image: Image.Image, size: tuple[int, int] | None = None, **call):
        """A texture that tiles seamlessly both ways (a torus canvas) around `image`; `size`
        (default: twice the input, each side) is rounded up to multiples of `wrap_unit`."""
        w, h = image.size
        size = size or (2 * w, 2 * h)
        layout = plan_wrapped(image.size, self.token_pixels, tuple(size), (True, True), self.wrap_unit)
        return self._generate(image, layout, (True, True), **call)

    @torch.no_grad()
    def _generate(
        self,
        image,
        layout,
        wrap,
        samples=1,
        generator=None,
        config=None,
        upscale=True,
        callback=None,
        progress=False,
        **sampling,
    ) -> OutpaintOutput:
        config = config or self.config
        sampling = {k: v for k, v in sampling.items() if v is not None}  # temperature=, cloud_type=, ...
        if sampling:
            config = dataclasses.replace(config, sampling=dataclasses.replace(config.sampling, **sampling))
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        pixels = to_tensor(image).to(self.device)
        canvas = Canvas.place(pixels, layout, wrap)
        detail = input_detail(canvas)
        call = _Call(
            config,
            canvas,
            build_phases(
                without_input_matching(config.finish) if is_named(config.sampling.cloud_type) else config.finish
            ),
            generator or torch.Generator().manual_seed(0),
            upscale and config.upscale.enabled and self.upscaler is not None,
            progress,
            callback or (lambda event: None),
            resolve_cloud_type(config.sampling.cloud_type, self.cloud_types, self.classifier, pixels),
            flat_input=flat_input(config.guard, detail),
            input_detail=detail,
        )
        result = self._draw(call, samples)
        # Outputs that came out flat next to a textured input are drawn again (guards.py).
        result = redraw_flat_outputs(
            config.guard.output, result, call.canvas, lambda n: self._draw(call, n), call.flat_input, call.input_detail
        )
        return OutpaintOutput([to_image(o) for o in call.canvas.crop(result)], call.clock.seconds, call.cloud_type)

    def _draw(self, call: _Call, samples: int) -> torch.Tensor:
        """`samples` draws of the whole canvas, (samples, 3, H, W), the input pasted in."""
        canvas, stages, generator = call.canvas, call.phases, call.generator
        tokens, grow_wrap, overlap, margin = self._grow(call, samples)
        decoded = self._decode_canvas(call, tokens, grow_wrap)
        p = self.tokenizer.config.downsample_factor
        decoded = decoded[..., : decoded.shape[-1] - margin * p]  # the right margin decoded, then cut off
        image = resize_wrapped(close_circle(decoded, overlap, p).clamp(0, 1), canvas.size, canvas.wrap)
        call.clock.lap("decode")
        image = run_stages(stages.after_decode, image, canvas, generator)
        call.clock.lap("finish")
        if call.upscale:
            image = self._upscale(call, image)
            call.clock.lap("upscale")
        image = run_stages(stages.after_upscale, image, canvas, generator)
        call.clock.lap("finish")
        return canvas.paste(image)

    def _grow(self, call: _Call, samples: int):
        """Tokenize the input and grow the token canvas window by window; returns the (B, h, w)
        tokens (w includes the right margin), the axes grown round the circle, the closing overlap
        (closing.py) and the right margin: the token columns grown past a non-circular canvas's
        right edge (`sampling.right_margin_tokens` at least, growth.grid_margin)."""
        s, canvas = call.config.sampling, call.canvas
        tokens, known = initial_tokens(self.tokenizer.encode, canvas, self.scale_factor, samples)
        window = self.maskgit.config.tokens_per_side
        kl, kt, _, _ = canvas.layout.known_tokens_box
        margin = 0 if canvas.wrap[1] else grid_margin(known.shape[1], window, kl, s.right_margin_tokens)
        if margin:
            tokens, known = F.pad(tokens, (0, margin)), F.pad(known, (0, margin), value=False)
        call.clock.lap("tokenize")
        # Circular axes with room for it are cut open and closed by a cross-fade after decoding.
        overlap = closing_overlap(known, call.config.decode.closing_overlap_tokens, canvas.wrap)
        tokens, known = open_circle(tokens, known, overlap)
        kt, kl = kt + overlap[0] // 2, kl + overlap[1] // 2
        grow_wrap = (canvas.wrap[0] and overlap[0] == 0, canvas.wrap[1] and overlap[1] == 0)
        sampler = MaskGITSampler(
            s.decode_steps, s.temperature, s.sampling_temperature, order=s.order, top_p=s.top_p, outward=s.outward,
            redraw_below=s.redraw_below,
        )
        plan = growth_plan(known, window, (kt, kl), grow_wrap)
        steps = len(plan)
        decode = lambda t: self.tokenizer.decode(t).clamp(0, 1)  # noqa: E731
        sampler = guarded_sampler(call.config.guard, sampler, steps * samples, decode, call.flat_input)
        context = code_shares(tokens[0], known, self.maskgit.config.codebook_size)  # the input's codes
        net = self._guided_net(call.cloud_type, s, steer=is_named(s.cloud_type), context=context)
        progress = StageProgress("grow tokens", "window", call.report, call.progress, total=steps)
        with net.kept_casts(), progress as bar:

            # The preview is at the tokenizer's scale: `model` pixels per token against `work` on the canvas.
            box, model, work = call.canvas.output_box, self.tokenizer.config.downsample_factor, call.canvas.token_pixels
            shown = (box.left * model // work, box.top * model // work)
            shown += (-(-box.right * model // work), -(-box.bottom * model // work))

            def on_batch(count, current, known_now):  # the preview shows the output's part of the canvas
                bar.advance(count, preview=lambda: token_preview(self.tokenizer, current[0], known_now).crop(shown))

            fill = partial(sampler.sample, net)  # (window tokens, unknown, generators) -> tokens
            tokens = grow_tokens(
                tokens, known, window, (kt, kl), fill, call.generator, grow_wrap, s.batch_windows, on_batch, plan
            )
            if s.spot_kinds:
                decode_canvas = lambda t: self._decode_canvas(call, t, grow_wrap).clamp(0, 1)  # noqa: E731
                repair = SpotRepair(decode_canvas, s.spot_kinds, s.spot_isolation)
                generated = ~known
                if margin:
                    generated[:, -margin:] = False  # a spot there is cut off with the margin
                tokens = repair_spots(net, tokens, generated, repair, window, call.generator, s.sampling_temperature)
        call.clock.lap("grow tokens")
        return tokens, grow_wrap, overlap, margin

    def _decode_canvas(self, call: _Call, tokens: torch.Tensor, wrap: tuple[bool, bool]) -> torch.Tensor:
        """(B, h, w) tokens -> (B, 3, h p, w p) decoded in overlapping windows, unclamped; the last
        canvas decoded in this call is kept, so the spot repair's final look is not decoded twice."""
        if call.decoded is not None and torch.equal(call.decoded[0], tokens):
            return call.decoded[1]
        p = self.tokenizer.config.downsample_factor
        images = decode_windows(self.tokenizer.decode, tokens, call.config.decode.window, p, wrap=wrap)
        call.decoded = (tokens.clone(), images)
        return images

    def _guided_net(self, cloud_type: str | None, s, steer: bool, context: torch.Tensor | None = None):
        """The MaskGIT as the sampler calls it, drawing towards `cloud_type` (None = unconditional):
        classifier-free guidance where the MaskGIT is conditional, and, if `steer` (a named type),
        guidance by the token classifier (`s.type_guidance`) and by the token prior
        (`s.type_prior`) where the weights have them and their scale is above 0."""
        names = self.maskgit.config.class_names
        label = names.index(cloud_type) if cloud_type in names else None
        net = GuidedNet(self.maskgit, label, s.guidance_scale, bf16=use_bf16(s.bf16, self.device), context=context)
        if cloud_type is None or not steer:
            return net
        if self.token_classifier is not None and s.type_guidance > 0:
            index = self.token_classifier.config.class_names.index(cloud_type)
            net = TokenClassifierGuidance(net, self.token_classifier, index, s.type_guidance)
        if self.token_prior is not None and s.type_prior > 0:
            net = TokenPriorGuidance(
                net, self.token_prior, self.token_prior.config.class_names.index(cloud_type), s.type_prior
            )
        return net

    def _upscale(self, call: _Call, image: torch.Tensor) -> torch.Tensor:
        with StageProgress("upscale", "tile", call.report, call.progress) as bar:
            on_tile = lambda done, total: bar.advance(1, total)  # noqa: E731
            return upscale_canvas(self.upscaler, image, call.canvas, call.config.upscale, call.generator, on_tile)
