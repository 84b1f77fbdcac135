"""MaskGIT masking schedule (training) and iterative decoder (sampling), apart from the network.

Both use the same gamma(r) = cos(pi r / 2), so training and sampling cannot drift apart.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from skysynth.flatness import luminance_std
from skysynth.spots import spot_tokens

MASK_NAMES = ("right", "left", "bottom", "top", "top_left", "top_right", "bottom_left", "bottom_right")


def gamma(r: torch.Tensor | float) -> torch.Tensor:
    """Share of tokens still masked at progress r in [0, 1]: cos(pi r / 2)."""
    return torch.cos(math.pi / 2 * torch.as_tensor(r, dtype=torch.float32))


def outpaint_masks(height: int, width: int | None = None) -> torch.Tensor:
    """(8, h, w) bool, True = unknown: right/left/bottom/top half, then the four quarter corners."""
    width = width or height
    masks = torch.zeros(8, height, width, dtype=torch.bool)
    half_h, half_w = height // 2, width // 2
    masks[0, :, half_w:] = True
    masks[1, :, :half_w] = True
    masks[2, half_h:, :] = True
    masks[3, :half_h, :] = True
    masks[4, :half_h, :half_w] = True
    masks[5, :half_h, half_w:] = True
    masks[6, half_h:, :half_w] = True
    masks[7, half_h:, half_w:] = True
    return masks


def known_code_shares(
    tokens: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor, kinds: torch.Tensor, window: int, vocabulary: int
) -> torch.Tensor:
    """The code context of training windows: (B, H, W) tokens of whole pictures, each sample's
    window at (tops, lefts) of side `window` with its outpainting mask `kinds` (outpaint_masks
    order) -> (B, vocabulary) share of each code among the tokens an outpainting call would know:
    the whole picture but the half-plane (halves) or quadrant (corners) the hidden region opens onto."""
    b, height, width = tokens.shape
    rows = torch.arange(height, device=tokens.device)[None, :, None]
    cols = torch.arange(width, device=tokens.device)[None, None, :]
    above = rows < (tops.to(tokens.device) + window // 2)[:, None, None]
    left_of = cols < (lefts.to(tokens.device) + window // 2)[:, None, None]
    above, left_of = above.expand(b, height, width), left_of.expand(b, height, width)
    below, right_of = ~above, ~left_of
    # Same order as outpaint_masks: right, left, bottom, top, then the corners.
    hidden = torch.stack(
        [right_of, left_of, below, above, above & left_of, above & right_of, below & left_of, below & right_of]
    )
    known = ~hidden[kinds.to(tokens.device), torch.arange(b, device=tokens.device)]
    counts = torch.zeros(b, vocabulary, device=tokens.device)
    counts.scatter_add_(1, tokens.flatten(1), known.flatten(1).float())
    return counts / counts.sum(1, keepdim=True).clamp_min(1)


def code_shares(tokens: torch.Tensor, known: torch.Tensor, vocabulary: int) -> torch.Tensor:
    """(H, W) tokens and (H, W) bool known mask -> (vocabulary,) share of each code among the known tokens."""
    counts = torch.bincount(tokens[known].flatten(), minlength=vocabulary)[:vocabulary].float()
    return counts / counts.sum().clamp_min(1)


class MaskSchedule:
    """Training masks: one of the 8 outpainting regions, each token in it masked with prob gamma(r)."""

    def __init__(self, mask_types: tuple[int, ...] = tuple(range(8))):
        self.mask_types = torch.tensor(mask_types)

    def training_mask(
        self, batch: int, height: int, width: int, generator: torch.Generator, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ((B, h, w) bool mask of tokens to predict, (B,) int64 mask type)."""
        regions = outpaint_masks(height, width).to(device)
        pick = torch.randint(0, len(self.mask_types), (batch,), generator=generator, device=device)
        kinds = self.mask_types.to(device)[pick]
        ratio = gamma(torch.rand(batch, generator=generator, device=device)).to(device)
        coins = torch.rand(batch, height, width, generator=generator, device=device)
        mask = regions[kinds] & (coins < ratio[:, None, None])
        # At least one token to predict per sample, else the sample teaches nothing.
        empty = ~mask.flatten(1).any(1)
        if empty.any():
            flat = regions[kinds[empty]].flatten(1).float()
            first = torch.multinomial(flat, 1, generator=generator).squeeze(1)
            mask.view(batch, -1)[empty.nonzero().squeeze(1), first] = True
        return mask, kinds


def halton(index: int, base: int) -> float:
    result, fraction = 0.0, 1.0
    while index > 0:
        fraction /= base
        result += fraction * (index % base)
        index //= base
    return result


def halton_order(height: int, width: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A permutation of the h*w positions in 2-D Halton order (bases 2, 3), randomly shifted
    (Cranley-Patterson rotation) so samples differ: spreads revealed tokens evenly."""
    shift = torch.rand(2, generator=generator).tolist() if generator is not None else [0.0, 0.0]
    seen, order, i = set(), [], 1
    while len(order) < height * width:
        y = int(((halton(i, 3) + shift[0]) % 1.0) * height)
        x = int(((halton(i, 2) + shift[1]) % 1.0) * width)
        i += 1
        if (y, x) not in seen:
            seen.add((y, x))
            order.append(y * width + x)
        if i > 50 * height * width:  # a rare shift can make the sequence slow to fill the grid
            order += [p for p in range(height * width) if divmod(p, width) not in seen]
            break
    return torch.tensor(order[: height * width])


def row_generators(generator, rows: int) -> list[torch.Generator]:
    """One generator per batch row: `generator` is one (shared, consumed row by row) or a sequence
    of `rows` generators (each row its own stream, so a row draws the same whatever else is in
    the batch: windows batched together come out as if drawn one by one)."""
    if isinstance(generator, torch.Generator):
        return [generator] * rows
    generators = list(generator)
    if len(generators) != rows:
        raise ValueError(f"{len(generators)} generators for {rows} rows")
    return generators


def nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero the least likely entries of each distribution (last dim) outside its top-p nucleus.
    The most likely entry always stays; the result is not renormalised (multinomial does not need it)."""
    if top_p >= 1.0:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p  # mass before this entry already reaches top_p
    return probs.scatter(-1, order, sorted_probs.masked_fill(outside, 0.0))


def side_stream(generator: torch.Generator) -> torch.Generator:
    """A new generator on `generator`'s device, seeded from its state (which stays as it was)."""
    digest = hashlib.blake2b(generator.get_state().numpy().tobytes(), digest_size=8).digest()
    return torch.Generator(device=generator.device).manual_seed(int.from_bytes(digest, "little") >> 1)


def redraw_unlikely(
    net, tokens: torch.Tensor, generated: torch.Tensor, below: float, generators, temperature: float = 1.0
) -> torch.Tensor:
    """Second look at drawn tokens: (B, h, w) tokens and bool `generated` mask -> (B, h, w) tokens.

    The generated tokens are masked again in two checkerboard halves, so each is judged by the
    network with all four neighbours in place; one whose probability there is below `below` is
    drawn again from the tokens at least that probable (the most likely always stays eligible).
    A lone token that disagrees with everything around it is replaced; known tokens never change.
    `generators`: one per row (see `row_generators`); the redraws use a stream of their own seeded
    from each one's state and leave it as it was, so that every later draw is the same with or
    without this second look.
    """
    mask_id = net.config.mask_token_id
    b, h, w = tokens.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    colour = ((ys + xs) % 2).to(tokens.device)
    tokens = tokens.clone()
    for c in (0, 1):
        masked = generated & (colour == c)
        if not bool(masked.any()):
            continue
        logits = net(tokens.masked_fill(masked, mask_id)).view(b, h * w, -1).float()
        probs = torch.softmax(logits / max(temperature, 1e-6), dim=-1)
        own = probs.gather(-1, tokens.view(b, -1, 1)).squeeze(-1)
        redraw = masked.view(b, -1) & (own < below)
        if not bool(redraw.any()):
            continue
        eligible = probs.masked_fill(probs < below, 0.0)
        top = probs.max(-1, keepdim=True)
        eligible = eligible.scatter(-1, top.indices, top.values)
        streams = [side_stream(g) for g in generators]
        drawn = torch.stack([torch.multinomial(eligible[i], 1, generator=g).squeeze(1) for i, g in enumerate(streams)])
        tokens = torch.where(redraw, drawn, tokens.view(b, -1)).view(b, h, w)
    return tokens


SPOT_KINDS = ("bright", "dark")


@dataclass
class SpotRepair:
    """Settings of `repair_spots`: `decode` turns a (B, h, w) token canvas into its (B, 3, h p, w p)
    picture in [0, 1] (as the pipeline decodes it); spots of `kinds` standing `isolation` x their
    surround's band RMS out of it are repaired in up to `rounds` rounds."""

    decode: Callable[[torch.Tensor], torch.Tensor]
    kinds: tuple[str, ...] = ("bright",)
    isolation: float = 3.0
    rounds: int = 3

    def __post_init__(self):
        if not self.kinds or any(kind not in SPOT_KINDS for kind in self.kinds):
            raise ValueError(f"spot kinds must be some of {', '.join(SPOT_KINDS)}, got {self.kinds!r}")
        if self.isolation <= 0:
            raise ValueError(f"spot isolation must be above 0, got {self.isolation}")
        if self.rounds < 1:
            raise ValueError(f"spot repair rounds must be at least 1, got {self.rounds}")


def repair_spots(
    net,
    tokens: torch.Tensor,
    generated: torch.Tensor,
    repair: SpotRepair,
    window: int,
    generators,
    temperature: float = 1.0,
) -> torch.Tensor:
    """A grown token canvas with its isolated spots repaired: (B, h, w) tokens, bool `generated`
    -> (B, h, w) tokens.

    The canvas is decoded whole (a spot is judged in the finished picture's context); a generated
    token under an isolated spot (skysynth.spots: a token-sized blob alone on smooth sky, the
    white balls of one-side growth) is drawn again by the MaskGIT in a `window` x `window` window
    round it, all its neighbours in place, from the ids not yet tried there. A redrawn token is
    kept where the decoded picture has no spot left within one token of it, else it goes back
    and the next round tries another id; up to `repair.rounds` rounds. Known tokens never
    change. The draws use a stream of their own per row, seeded from each generator's state (left
    as it was), so every later draw is the same with or without the repair.
    """
    b, h, w = tokens.shape
    if h < window or w < window:
        return tokens
    mask_id = net.config.mask_token_id
    tokens = tokens.clone()
    streams = [side_stream(g) for g in row_generators(generators, b)]
    tried: dict[tuple[int, int, int], list[int]] = {}

    def spotted(canvas: torch.Tensor) -> torch.Tensor:
        images = repair.decode(canvas)
        return spot_tokens(images, images.shape[-1] // w, repair.isolation, repair.kinds) & generated

    found = spotted(tokens)
    for _ in range(repair.rounds):
        places = torch.nonzero(found).tolist()  # [(row, y, x)]
        if not places:
            break
        crops, centres = [], []
        for r, y, x in places:  # a window round each spot, inside the canvas
            top, left = min(max(y - window // 2, 0), h - window), min(max(x - window // 2, 0), w - window)
            crops.append(tokens[r, top : top + window, left : left + window])
            centres.append((y - top) * window + (x - left))
        crops, centres = torch.stack(crops), torch.tensor(centres, device=tokens.device)
        masked = crops.view(len(places), -1).scatter(1, centres[:, None], mask_id).view_as(crops)
        logits = net(masked).view(len(places), window * window, -1).float()
        logits = logits[torch.arange(len(places)), centres]  # (N, vocabulary)
        probs = torch.softmax(logits / max(temperature, 1e-6), dim=-1)
        candidate = tokens.clone()
        for i, (r, y, x) in enumerate(places):
            banned = tried.setdefault((r, y, x), [int(tokens[r, y, x])])
            p = probs[i].clone()
            p[banned] = 0.0
            if not bool(p.gt(0).any()):
                continue
            drawn = int(torch.multinomial(p, 1, generator=streams[r]))
            banned.append(drawn)
            candidate[r, y, x] = drawn
        found_after = spotted(candidate)
        near = F.max_pool2d(found_after.float()[:, None], 3, stride=1, padding=1)[:, 0] > 0
        kept = (candidate != tokens) & ~near
        if not bool(kept.any()):
            continue  # every spot stays: the next round tries other ids
        tokens = torch.where(kept, candidate, tokens)
        found = found_after if torch.equal(tokens, candidate) else spotted(tokens)
    return tokens


def distance_to_known(unknown: torch.Tensor) -> torch.Tensor:
    """(B, h, w) bool unknown mask -> (B, h, w) Euclidean distance (in tokens) of each position to
    the nearest known one; 0 at known positions, and everywhere in a window with none known."""
    b, h, w = unknown.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    positions = torch.stack([ys.flatten(), xs.flatten()], 1).float().to(unknown.device)  # (h*w, 2)
    pairwise = torch.cdist(positions, positions)  # (h*w, h*w)
    known = ~unknown.view(b, 1, h * w)
    nearest = pairwise[None].masked_fill(~known, float("inf")).amin(-1)  # (B, h*w)
    return torch.where(torch.isfinite(nearest), nearest, torch.zeros_like(nearest)).view(b, h, w)


class MaskGITSampler:
    """Iterative decoding: predict all unknown tokens, keep the most confident, re-mask the rest.

    - `temperature`: scale of the Gumbel noise added to confidences (the thesis's "temperature";
      annealed linearly to 0 over the steps when `anneal` is true, as in MaskGIT);
    - `sampling_temperature`: softmax temperature of the token draw;
    - `top_p`: nucleus filtering of the draw (Holtzman et al. 2019): only the most likely tokens
      whose probabilities sum to `top_p` can be drawn; 1.0 draws from the whole softmax;
    - `order`: "confidence" (MaskGIT) or "halton" (a low-discrepancy order fixed in advance);
    - `outward`: confidence order only: each unknown token's confidence is lowered by `outward`
      per token of distance to the nearest known token, so the tokens next to the known ones
      are fixed first, from the known ones themselves, and the rest grow out from them
      (0 = plain MaskGIT order);
    - `redraw_below`: after the last step, generated tokens the network finds less probable than
      this given all their neighbours are drawn again (`redraw_unlikely`; 0 = off).
    Known tokens never change.
    """

    def __init__(
        self,
        decode_steps: int = 12,
        temperature: float = 4.0,
        sampling_temperature: float = 1.0,
        anneal: bool = True,
        order: str = "confidence",
        top_p: float = 1.0,
        outward: float = 0.0,
        redraw_below: float = 0.0,
    ):
        if not 0.0 <= redraw_below < 1.0:
            raise ValueError(f"redraw_below must be in [0, 1), got {redraw_below}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if order not in ("confidence", "halton"):
            raise ValueError(f"order must be 'confidence' or 'halton', got {order!r}")
        if decode_steps < 1:
            raise ValueError("decode_steps must be at least 1")
        if outward < 0:
            raise ValueError(f"outward must be at least 0, got {outward}")
        self.decode_steps, self.temperature = decode_steps, temperature
        self.sampling_temperature, self.anneal, self.order = sampling_temperature, anneal, order
        self.top_p, self.outward, self.redraw_below = top_p, outward, redraw_below

    def remaining_after(self, step: int, unknown: int) -> int:
        """How many tokens stay masked after step `step` (1-based) of `decode_steps`."""
        return int(math.floor(float(gamma(step / self.decode_steps)) * unknown))

    @torch.no_grad()
    def sample(self, net, tokens: torch.Tensor, unknown: torch.Tensor, generator) -> torch.Tensor:
        """(B, h, w) tokens and (B, h, w) bool unknown mask -> (B, h, w) tokens, all filled.
        `generator`: one torch.Generator, or one per row (see `row_generators`)."""
        mask_id = net.config.mask_token_id
        tokens = torch.where(unknown, torch.full_like(tokens, mask_id), tokens)
        b, h, w = tokens.shape
        rows = row_generators(generator, b)
        flat, still = tokens.view(b, -1).clone(), unknown.view(b, -1).clone()
        initial = still.sum(1).tolist()
        priority = None
        outward = self.outward > 0 and self.order == "confidence"  # a fixed order has no confidences to lower
        distance_penalty = self.outward * distance_to_known(unknown).view(b, -1) if outward else 0.0
        if self.order == "halton":
            ranks = torch.linspace(1.0, 0.0, h * w, device=tokens.device)
            priority = torch.empty(b, h * w, device=tokens.device)
            for i, g in enumerate(rows):
                order = halton_order(h, w, g if g.device.type == "cpu" else None).to(tokens.device)
                priority[i, order] = ranks
        for step in range(1, self.decode_steps + 1):
            if not still.any():
                break
            logits = net(flat.view(b, h, w)).view(b, h * w, -1).float()
            probs = nucleus(torch.softmax(logits / max(self.sampling_temperature, 1e-6), dim=-1), self.top_p)
            drawn = torch.stack([torch.multinomial(probs[i], 1, generator=g).squeeze(1) for i, g in enumerate(rows)])
            if priority is None:
                noise_scale = self.temperature * (1 - step / self.decode_steps) if self.anneal else self.temperature
                uniform = torch.stack([torch.rand(h * w, generator=g, device=drawn.device) for g in rows])
                gumbel = -torch.log(-torch.log(uniform.clamp(1e-20, 1 - 1e-7)))
                confidence = torch.log(probs.gather(-1, drawn[..., None]).squeeze(-1).clamp_min(1e-30))
                confidence = confidence + noise_scale * gumbel - distance_penalty
            else:
                confidence = priority.clone()
            confidence = confidence.masked_fill(~still, float("inf"))
            candidate = torch.where(still, drawn, flat)
            for i in range(b):
                keep_masked = self.remaining_after(step, initial[i])
                new_still = torch.zeros_like(still[i])
                if keep_masked > 0:
                    new_still[torch.topk(confidence[i], keep_masked, largest=False).indices] = True
                flat[i] = torch.where(new_still, torch.full_like(flat[i], mask_id), candidate[i])
                still[i] = new_still
        tokens = flat.view(b, h, w)
        if self.redraw_below > 0:
            tokens = redraw_unlikely(net, tokens, unknown, self.redraw_below, rows, self.sampling_temperature)
        return tokens


class GuardedSampler:
    """A sampler that redraws windows that collapsed ("monochrome collapse").

    After sampling, a window counts as collapsed when its generated tokens are dominated by a
    single token id (share above `max_share`, and clearly above that id's share among the known
    tokens), or, when `decode` (tokens -> images) is given, when the generated pixels are nearly
    flat (luminance std below `flat_std`) while the known pixels are not (std at least
    `known_flat_std`, by default `flat_std`): the evaluation's collapse criterion, judged against
    the known part instead of the unseen truth. Collapsed windows are sampled again with fresh
    noise, up to `retries` times; each redraw may raise the softmax temperature of the token draw
    by `retry_temperature_step` (more varied draws where the plain sampler keeps landing on flat
    sky), `redraw_budget` bounds the redrawn windows over all calls of this sampler (the worst
    first), and redraws after the first `retry_order_after` may use another unmasking order
    (`retry_order`, e.g. "halton" after confidence-ordered draws). A redraw replaces the old
    draw when it is not collapsed, or is less collapsed (more generated detail when judging
    pixels, else a smaller dominant share). No token id is banned: a sky that is flat in the
    known part too passes untouched.
    """

    def __init__(
        self,
        sampler: MaskGITSampler,
        max_share: float = 0.6,
        margin: float = 0.25,
        retries: int = 2,
        decode=None,
        flat_std: float = 0.02,
        known_flat_std: float | None = None,
        retry_temperature_step: float = 0.0,
        retry_order: str | None = None,
        retry_order_after: int = 0,
        redraw_budget: int | None = None,
    ):
        if retry_order not in (None, "confidence", "halton"):
            raise ValueError(f"retry_order must be None, 'confidence' or 'halton', got {retry_order!r}")
        self.sampler, self.max_share, self.margin, self.retries = sampler, max_share, margin, retries
        self.decode, self.flat_std = decode, flat_std
        self.known_flat_std = flat_std if known_flat_std is None else known_flat_std
        self.retry_temperature_step = retry_temperature_step
        self.retry_order, self.retry_order_after = retry_order, retry_order_after
        self.redraws_left = redraw_budget  # window redraws left over all calls (None = unbounded)

    @staticmethod
    def dominant_share(
        tokens: torch.Tensor, region: torch.Tensor, vocabulary: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per window: (share of the most common token id inside region, that id)."""
        counts = torch.zeros(tokens.shape[0], vocabulary + 1, device=tokens.device)
        counts.scatter_add_(1, tokens.flatten(1), region.flatten(1).float())
        share, ids = counts.max(dim=1)
        return share / region.flatten(1).float().sum(1).clamp_min(1), ids

    def _pixel_detail(self, tokens: torch.Tensor, unknown: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per window: (luminance std of the generated area, of the known area; -1 if empty)."""
        images = self.decode(tokens)
        factor = images.shape[-1] // tokens.shape[-1]
        region = unknown.repeat_interleave(factor, 1).repeat_interleave(factor, 2)[:, None]
        known_std = luminance_std(images, ~region)
        known_std[~(~region).flatten(1).any(1)] = -1.0
        return luminance_std(images, region), known_std

    def judge(self, tokens: torch.Tensor, unknown: torch.Tensor, vocabulary: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per window: (collapsed?, badness: lower is better among draws of the same window)."""
        share, ids = self.dominant_share(tokens, unknown, vocabulary)
        known = ~unknown
        known_counts = (tokens == ids[:, None, None]) & known
        known_share = known_counts.flatten(1).float().sum(1) / known.flatten(1).float().sum(1).clamp_min(1)
        flat = (share > self.max_share) & (share > known_share + self.margin)
        if self.decode is None:
            return flat, share
        generated_std, known_std = self._pixel_detail(tokens, unknown)
        flat = flat | ((generated_std < self.flat_std) & (known_std >= self.known_flat_std))
        return flat, -generated_std

    def _redraw_sampler(self, attempt: int) -> MaskGITSampler:
        order = self.retry_order if attempt > self.retry_order_after else None
        if not self.retry_temperature_step and order in (None, self.sampler.order):
            return self.sampler
        redraw = copy.copy(self.sampler)
        redraw.sampling_temperature = self.sampler.sampling_temperature + attempt * self.retry_temperature_step
        if order is not None:
            redraw.order = order
        return redraw

    @torch.no_grad()
    def sample(self, net, tokens: torch.Tensor, unknown: torch.Tensor, generator) -> torch.Tensor:
        """As MaskGITSampler.sample; a row's redraws use that row's generator."""
        vocabulary = net.config.codebook_size
        rows = row_generators(generator, tokens.shape[0])
        result = self.sampler.sample(net, tokens, unknown, rows)
        bad, badness = self.judge(result, unknown, vocabulary)
        for attempt in range(1, self.retries + 1):
            if self.redraws_left is not None:  # over budget: only the worst windows are redrawn
                flagged = torch.nonzero(bad).flatten()
                bad[flagged[badness[flagged].argsort(descending=True)[self.redraws_left :]]] = False
                self.redraws_left -= int(bad.sum())
            if not bool(bad.any()):
                break
            again_rows = [rows[i] for i in torch.nonzero(bad).flatten().tolist()]
            again = self._redraw_sampler(attempt).sample(net, tokens[bad], unknown[bad], again_rows)
            again_bad, again_badness = self.judge(again, unknown[bad], vocabulary)
            better = ~again_bad | (again_badness < badness[bad])
            replaced, replaced_badness = result[bad], badness[bad]
            replaced[better] = again[better]
            replaced_badness[better] = again_badness[better]
            result[bad], badness[bad] = replaced, replaced_badness
            # A kept redraw carries its own verdict, a rejected one leaves its window collapsed.
            still_bad = torch.ones_like(again_bad)
            still_bad[better] = again_bad[better]
            bad[bad.clone()] = still_bad
        return result
