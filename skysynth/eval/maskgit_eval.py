"""MaskGIT evaluation: per-mask accuracy and NLL, and the collapse rate of each sampler."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from skysynth.common.images import save_grid
from skysynth.eval.common import generator, markdown_table, validation_batches, weights_dir
from skysynth.eval.quality import collapse_rate, high_frequency_energy
from skysynth.models.maskgit import MaskGIT
from skysynth.models.vqvae import VQVAE
from skysynth.schedulers.masking import MASK_NAMES, GuardedSampler, MaskGITSampler, known_code_shares, outpaint_masks


def samplers(cfg, decode=None) -> dict[str, MaskGITSampler]:
    steps, temperature = int(cfg.sampling.decode_steps), float(cfg.sampling.temperature)
    # The guard as session 6 measured it: 6 redraws, flat-known exemption below 0.01 (the pipeline
    # uses the same exemption with 3 redraws, for speed: skysynth.outpaint.guards).
    guard = {"retries": 6, "known_flat_std": 0.01, "retry_temperature_step": 0.0}
    return {
        "confidence, annealed noise": MaskGITSampler(steps, temperature, anneal=True, order="confidence"),
        "confidence, constant noise (thesis)": MaskGITSampler(steps, temperature, anneal=False, order="confidence"),
        "halton order": MaskGITSampler(steps, temperature, order="halton"),
        "confidence + collapse guard": GuardedSampler(MaskGITSampler(steps, temperature, anneal=True)),
        "confidence + pixel guard": GuardedSampler(MaskGITSampler(steps, temperature, anneal=True), decode=decode),
        "halton order + pixel guard": GuardedSampler(MaskGITSampler(steps, temperature, order="halton"), decode=decode),
        "confidence + pixel guard, 6 redraws, exemption 0.01": GuardedSampler(
            MaskGITSampler(steps, temperature, anneal=True), decode=decode, **guard
        ),
        "halton order + pixel guard, 6 redraws, exemption 0.01": GuardedSampler(
            MaskGITSampler(steps, temperature, order="halton"), decode=decode, **guard
        ),
        "confidence + pixel guard, 3 redraws, exemption 0.01": GuardedSampler(
            MaskGITSampler(steps, temperature, anneal=True), decode=decode, **{**guard, "retries": 3}
        ),
        # Session 9: collapsed windows redrawn in Halton order (spread-out unmasking does not let
        # one flat token grow from its first confident neighbours); off in the pipeline (RESULTS).
        "confidence + pixel guard, 3 redraws, the last in Halton order, exemption 0.01": GuardedSampler(
            MaskGITSampler(steps, temperature, anneal=True),
            decode=decode,
            **{**guard, "retries": 3, "retry_order": "halton", "retry_order_after": 2},
        ),
        "confidence + pixel guard, 3 redraws in Halton order, exemption 0.01": GuardedSampler(
            MaskGITSampler(steps, temperature, anneal=True),
            decode=decode,
            **{**guard, "retries": 3, "retry_order": "halton"},
        ),
        "confidence + pixel guard, 6 redraws in Halton order, exemption 0.01": GuardedSampler(
            MaskGITSampler(steps, temperature, anneal=True), decode=decode, **{**guard, "retry_order": "halton"}
        ),
        "confidence + pixel guard, 6 redraws, exemption 0.01, hotter redraws (+0.15)": GuardedSampler(
            MaskGITSampler(steps, temperature, anneal=True), decode=decode, **{**guard, "retry_temperature_step": 0.15}
        ),
        **{
            f"confidence + guard, softmax T={t:g}": GuardedSampler(
                MaskGITSampler(steps, temperature, sampling_temperature=float(t), anneal=True)
            )
            for t in cfg.get("sampling_temperatures", [])
        },
    }


def choose_samplers(cfg, decode=None) -> dict[str, MaskGITSampler]:
    """The samplers the eval compares: all (samplers=true), none (false), or a list of names."""
    wanted = cfg.get("samplers", True)
    if isinstance(wanted, bool):
        return samplers(cfg, decode) if wanted else {}
    if isinstance(wanted, str):  # samplers='halton order' on the command line: one name
        wanted = [wanted]
    available = samplers(cfg, decode)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ValueError(f"unknown sampler {unknown[0]!r}: choose from {', '.join(map(repr, available))}")
    return {name: available[name] for name in wanted}


@torch.no_grad()
def evaluate(cfg) -> dict:
    net = MaskGIT.from_pretrained(weights_dir(cfg.weights, "maskgit")).float().to(cfg.device).eval()
    tokenizer = VQVAE.from_pretrained(weights_dir(cfg.tokenizer, "tokenizer")).float().to(cfg.device).eval()
    side = net.config.tokens_per_side
    crop = cfg.crop or side * tokenizer.config.downsample_factor
    masks = outpaint_masks(side).to(cfg.device)
    nll = torch.zeros(len(MASK_NAMES), dtype=torch.float64)
    correct = torch.zeros(len(MASK_NAMES), dtype=torch.float64)
    total = torch.zeros(len(MASK_NAMES), dtype=torch.float64)
    # samplers=false: per-mask accuracy and NLL only (fast enough for the whole split).
    chosen = choose_samplers(cfg, decode=lambda t: tokenizer.decode(t).clamp(0, 1))
    if chosen and net.config.context_codes:
        raise ValueError("task=maskgit samples without the code context a context_codes MaskGIT needs: samplers=false")
    collapsed = {name: torch.zeros(len(MASK_NAMES)) for name in chosen}
    # Detail energy of generated areas over the truth's: >> 1 = speckle noise, << 1 = flat.
    detail = {name: [0.0, 0.0] for name in chosen}
    windows, gen, grid_rows = 0, generator(cfg), []
    bar = tqdm(desc="maskgit eval", unit="mask x sampler", disable=not cfg.get("progress", True))
    for images in validation_batches(cfg, cfg.downscale or 2, crop):
        pictures = tokenizer.encode(images)
        b, height, width = pictures.shape
        if min(height, width) < side:
            raise ValueError(f"crop={crop} gives {height}x{width} tokens, less than the {side}-token window")
        # A crop larger than the window: its centre window, the rest as the code context.
        top, left = (height - side) // 2, (width - side) // 2
        tokens = pictures[:, top : top + side, left : left + side]
        truth = tokenizer.decode(tokens).clamp(0, 1)
        first_batch = not grid_rows
        if first_batch:
            grid_rows.append(truth[:8])
        for kind in range(len(MASK_NAMES)):
            mask = masks[kind].expand(b, side, side)
            context = None
            if net.config.context_codes:
                where = (torch.full((b,), top), torch.full((b,), left), torch.full((b,), kind))
                context = known_code_shares(pictures, *where, side, net.config.codebook_size)
            logits = net(tokens.masked_fill(mask, net.config.mask_token_id), None, context).float()
            nll[kind] += float(F.cross_entropy(logits[mask], tokens[mask], reduction="sum"))
            correct[kind] += float((logits.argmax(-1)[mask] == tokens[mask]).sum())
            total[kind] += float(mask.sum())
            region = F.interpolate(masks[kind][None, None].float(), scale_factor=tokenizer.config.downsample_factor)
            for name, sampler in chosen.items():
                generated = tokenizer.decode(sampler.sample(net, tokens, mask, gen)).clamp(0, 1)
                collapsed[name][kind] += collapse_rate(generated, truth, region.bool()) * b
                detail[name][0] += float(high_frequency_energy(generated * region).sum())
                detail[name][1] += float(high_frequency_energy(truth * region).sum())
                if first_batch and kind == 3:  # "top": growing upwards, the thesis's worst case
                    grid_rows.append(generated[:8])
                bar.update(1)
        windows += b
    bar.close()
    per_mask = {
        name: {"accuracy": float(correct[k] / total[k]), "nll": float(nll[k] / total[k])}
        for k, name in enumerate(MASK_NAMES)
    }
    collapse = {name: {m: float(c[k] / windows) for k, m in enumerate(MASK_NAMES)} for name, c in collapsed.items()}
    for name in collapse:
        collapse[name]["all"] = float(collapsed[name].sum() / (windows * len(MASK_NAMES)))
    rows = [[m, per_mask[m]["accuracy"], per_mask[m]["nll"]] for m in MASK_NAMES]
    rows.append(["all", float(correct.sum() / total.sum()), float(nll.sum() / total.sum())])
    table = markdown_table(["mask", "accuracy (one pass, fully masked)", "NLL nats"], rows)
    detail_ratio = {name: d[0] / max(d[1], 1e-12) for name, d in detail.items()}
    sampler_rows = [
        [name] + [collapse[name][m] for m in MASK_NAMES] + [collapse[name]["all"], detail_ratio[name]]
        for name in chosen
    ]
    if chosen:
        table += "\n\nCollapse rate of decoded windows per sampler and mask, and detail energy of the generated\n"
        table += "area relative to the truth (1 = as detailed as real skies):\n\n"
        table += markdown_table(["sampler"] + list(MASK_NAMES) + ["all", "detail ratio"], sampler_rows)
    grid = save_grid(grid_rows, Path(cfg.out) / "maskgit_top.png")
    return {
        "windows": windows,
        "per_mask": per_mask,
        "collapse": collapse,
        "detail_ratio": detail_ratio,
        "grid": str(grid),
        "grid_rows": "token round trip of the truth, then one row per sampler: " + ", ".join(chosen),
        "table": table,
    }
