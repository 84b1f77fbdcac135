"""The three networks and their schedules: shapes, gradients, save/load, determinism, invariants."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skysynth.models.maskgit import MaskGIT
from skysynth.models.upscaler import UNet
from skysynth.models.vqvae import VQVAE, VQVAEConfig
from skysynth.outpaint.tiling import upscale_tiles
from skysynth.schedulers.masking import (
    GuardedSampler,
    MaskGITSampler,
    MaskSchedule,
    SpotRepair,
    distance_to_known,
    nucleus,
    outpaint_masks,
    redraw_unlikely,
    repair_spots,
)
from skysynth.schedulers.noise import CosineNoiseSchedule
from tests.conftest import tiny_maskgit, tiny_upscaler, tiny_vqvae

OPTIM = {"lr": 1e-3, "warmup_steps": 1, "decay_rate": 0.8, "decay_every_samples": 1e6, "batch_size_for_decay": 2}


def fit_steps(lit, images: torch.Tensor, steps: int = 2) -> None:
    """A few real optimizer steps through Lightning (the modules log and sync through their Trainer)."""
    import lightning as L

    batches = [{"image": images, "key": [str(i) for i in range(len(images))]}] * steps
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(lit, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))


# --- tokenizer -------------------------------------------------------------------------------


def test_vqvae_forward_backward_returns_each_loss():
    model = tiny_vqvae().train()
    out = model(torch.rand(2, 3, 32, 32))
    for name in ("loss", "mse", "codebook_loss", "commitment_loss", "revival_loss"):
        assert out[name].ndim == 0 and torch.isfinite(out[name])
    out["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert out["tokens"].shape == (2, 8, 8) and out["tokens"].dtype == torch.int64


@pytest.mark.parametrize("height, width", [(32, 48), (20, 44), (64, 16)])
def test_vqvae_non_square_shapes(height, width):
    model = tiny_vqvae()
    tokens = model.encode(torch.rand(1, 3, height, width))
    assert tokens.shape == (1, height // 4, width // 4) and int(tokens.max()) < model.config.codebook_size
    assert model.decode(tokens).shape == (1, 3, height, width)
    with pytest.raises(ValueError, match="multiple"):
        model.encode(torch.rand(1, 3, 30, 32))


def test_vqvae_save_load_round_trip_identical_tokens(tmp_path):
    model = tiny_vqvae()
    # fp16 storage: compare with the model whose weights went through fp16 themselves.
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    model.save_pretrained(tmp_path / "tok")
    loaded = VQVAE.from_pretrained(tmp_path / "tok")
    images = torch.rand(3, 3, 32, 40)
    assert torch.equal(model.encode(images), loaded.encode(images))
    with pytest.raises(ValueError, match="not a maskgit"):
        MaskGIT.from_pretrained(tmp_path / "tok")


def test_vqvae_lookup_stays_fp32_under_bf16_autocast():
    model = tiny_vqvae()
    # Near-duplicate codes: bf16 distances (8 bits of mantissa) cannot tell them apart.
    with torch.no_grad():
        model.quantizer.codebook.copy_(model.quantizer.codebook[:1] + 1e-3 * torch.randn_like(model.quantizer.codebook))
    images = torch.rand(2, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(images)
        tokens = model.encode(images)
        latents = model.encoder(images).float()
    flat = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    expected = torch.cdist(flat.double(), model.quantizer.codebook.double()).argmin(1)
    assert torch.equal(out["tokens"].flatten(), expected)
    assert torch.equal(tokens.flatten(), expected)
    assert out["reconstruction"].dtype == torch.float32


def test_revival_loss_pulls_unused_codes():
    model = tiny_vqvae()
    flat = torch.randn(64, model.config.embed_dim)
    indices = torch.zeros(64, dtype=torch.long)  # only code 0 used: every other code is pulled
    assert model.quantizer.revival_loss(flat, indices) > 0


def test_vqvae_training_step_in_lightning_module():
    from skysynth.lit.vqvae import VQVAELit

    lit = VQVAELit(
        net={"base_channels": 8, "channel_multipliers": [1, 2], "embed_dim": 8, "codebook_size": 16},
        optim=OPTIM,
        grid_every_n_steps=0,
    )
    before = {k: v.clone() for k, v in lit.net.state_dict().items()}
    fit_steps(lit, torch.rand(2, 3, 32, 32))
    after = lit.net.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())


@pytest.mark.parametrize("start_step, trains", [(0, True), (5, False)])
def test_vqvae_adversarial_loss_trains_a_discriminator_after_its_start(start_step, trains):
    from skysynth.lit.vqvae import VQVAELit

    lit = VQVAELit(
        net={"base_channels": 8, "channel_multipliers": [1, 2], "embed_dim": 8, "codebook_size": 16},
        optim=OPTIM,
        grid_every_n_steps=0,
        adversarial={"weight": 0.1, "start_step": start_step, "discriminator": {"base_channels": 8, "layers": 2}},
    )
    before = {k: v.clone() for k, v in lit.discriminator.state_dict().items()}
    fit_steps(lit, torch.rand(2, 3, 32, 32), steps=3)
    changed = any(not torch.equal(before[k], v) for k, v in lit.discriminator.state_dict().items())
    assert changed == trains
    checkpoint = {}
    lit.on_save_checkpoint(checkpoint)
    assert "discriminator_optimizer" in checkpoint and checkpoint["skysynth_model_type"] == "vqvae"
    assert all(not k.startswith("discriminator") for k in lit.net.state_dict())  # never exported


def test_vqvae_adaptive_adversarial_scale_balances_the_gradients_at_the_last_layer():
    from skysynth.lit.vqvae import VQVAELit
    from skysynth.models.discriminator import hinge_generator_loss

    torch.manual_seed(0)
    lit = VQVAELit(
        net={"base_channels": 8, "channel_multipliers": [1, 2], "embed_dim": 8, "codebook_size": 16},
        optim=OPTIM,
        grid_every_n_steps=0,
        adversarial={
            "weight": 0.5,
            "start_step": 0,
            "adaptive": True,
            "discriminator": {"base_channels": 8, "layers": 2},
        },
    )
    lit.log = lambda *args, **kwargs: None
    images = torch.rand(2, 3, 32, 32)
    out = lit.net(images)
    g_loss = hinge_generator_loss(lit.discriminator(out["reconstruction"]))
    last = lit.net.decoder.conv_out.weight
    scale = lit.adaptive_scale(out["loss"], g_loss, last)
    rec_grad = torch.autograd.grad(out["loss"], last, retain_graph=True)[0]
    adv_grad = torch.autograd.grad(scale * g_loss, last, retain_graph=True)[0]
    assert not scale.requires_grad and float(scale) > 0
    assert torch.allclose(adv_grad.norm(), rec_grad.norm(), rtol=1e-3)  # balanced, then x weight
    before = {k: v.clone() for k, v in lit.net.state_dict().items()}
    fit_steps(lit, images, steps=2)
    assert any(not torch.equal(before[k], v) for k, v in lit.net.state_dict().items())


def test_hinge_losses():
    from skysynth.models.discriminator import PatchDiscriminator, PatchDiscriminatorConfig
    from skysynth.models.discriminator import hinge_discriminator_loss as d_loss
    from skysynth.models.discriminator import hinge_generator_loss as g_loss

    assert float(d_loss(torch.full((4,), 2.0), torch.full((4,), -2.0))) == 0.0  # confident and right
    assert float(d_loss(torch.zeros(4), torch.zeros(4))) == 1.0
    assert float(g_loss(torch.full((4,), 3.0))) == -3.0
    scores = PatchDiscriminator(PatchDiscriminatorConfig(base_channels=8, layers=3))(torch.rand(2, 3, 64, 64))
    assert scores.shape == (2, 1, 8, 8)


def test_kmeans_finds_separated_clusters():
    from skysynth.models.vqvae import kmeans

    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    points = (centres[:, None] + 0.1 * torch.randn(4, 50, 2, generator=generator)).reshape(-1, 2)
    found = kmeans(points, 4, iterations=10, generator=torch.Generator().manual_seed(1))
    # Every true centre has a centroid next to it (a random init alone would often miss one).
    assert torch.cdist(centres, found).min(dim=1).values.max() < 0.5


def test_ema_codebook_moves_codes_to_assigned_means():
    from skysynth.models.vqvae import ema_codebook

    cluster_size, embed_sum = torch.ones(2), torch.zeros(2, 3)
    counts, sums = torch.tensor([4.0, 0.0]), torch.tensor([[8.0, 8.0, 8.0], [0.0, 0.0, 0.0]])
    for _ in range(200):
        codes = ema_codebook(cluster_size, embed_sum, counts, sums, decay=0.9)
    assert torch.allclose(codes[0], torch.full((3,), 2.0), atol=1e-3)  # mean of its vectors


def test_vqvae_ema_and_kmeans_training_in_lightning_module():
    from skysynth.lit.vqvae import VQVAELit

    lit = VQVAELit(
        net={
            "base_channels": 8,
            "channel_multipliers": [1, 2],
            "embed_dim": 8,
            "codebook_size": 16,
            "codebook_update": "ema",
        },
        optim=OPTIM,
        kmeans_init=True,
        grid_every_n_steps=0,
    )
    assert not lit.net.quantizer.codebook.requires_grad
    before = lit.net.quantizer.codebook.detach().clone()
    fit_steps(lit, torch.rand(2, 3, 32, 32))
    codebook = lit.net.quantizer.codebook
    assert bool(lit.codebook_initialised) and not torch.equal(before, codebook)
    assert torch.isfinite(codebook).all()
    assert lit.ema_cluster_size.sum() > 0


def test_vqvae_rejects_unknown_codebook_update():
    with pytest.raises(ValueError, match="codebook_update"):
        VQVAE(VQVAEConfig(codebook_update="magic"))


# --- MaskGIT ---------------------------------------------------------------------------------


def test_the_eight_outpainting_masks():
    masks = outpaint_masks(8)
    assert masks.shape == (8, 8, 8)
    right, left, bottom, top = masks[:4]
    assert right[:, 4:].all() and not right[:, :4].any()
    assert left[:, :4].all() and not left[:, 4:].any()
    assert bottom[4:].all() and not bottom[:4].any()
    assert top[:4].all() and not top[4:].any()
    for corner, (ys, xs) in zip(
        masks[4:],
        [
            (slice(0, 4), slice(0, 4)),
            (slice(0, 4), slice(4, 8)),
            (slice(4, 8), slice(0, 4)),
            (slice(4, 8), slice(4, 8)),
        ],
    ):
        assert corner[ys, xs].all() and int(corner.sum()) == 16
    assert len({m.flatten().tolist().__str__() for m in masks}) == 8


def test_training_masks_stay_inside_their_region():
    schedule = MaskSchedule()
    mask, kinds = schedule.training_mask(64, 8, 8, torch.Generator().manual_seed(0))
    regions = outpaint_masks(8)
    assert (mask & ~regions[kinds]).sum() == 0 and mask.flatten(1).any(1).all()
    assert set(kinds.tolist()) == set(range(8))


@pytest.mark.parametrize("order", ["confidence", "halton"])
def test_sampler_deterministic_with_generator(order):
    net = tiny_maskgit()
    tokens = torch.randint(0, 16, (2, 8, 8), generator=torch.Generator().manual_seed(1))
    unknown = outpaint_masks(8)[0].expand(2, 8, 8)
    sampler = MaskGITSampler(decode_steps=4, order=order)
    a = sampler.sample(net, tokens, unknown, torch.Generator().manual_seed(5))
    b = sampler.sample(net, tokens, unknown, torch.Generator().manual_seed(5))
    c = sampler.sample(net, tokens, unknown, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


@settings(max_examples=30, deadline=None)
@given(
    kind=st.integers(0, 7),
    steps=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    order=st.sampled_from(["confidence", "halton"]),
    temperature=st.floats(0, 10),
)
def test_known_tokens_never_change_and_all_get_filled(kind, steps, seed, order, temperature):
    net = tiny_maskgit()
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 16, (2, 8, 8), generator=generator)
    unknown = outpaint_masks(8)[kind].expand(2, 8, 8)
    sampler = GuardedSampler(MaskGITSampler(decode_steps=steps, temperature=temperature, order=order))
    out = sampler.sample(net, tokens, unknown, generator)
    assert torch.equal(out[~unknown], tokens[~unknown])
    assert int(out.max()) < 16 and int(out.min()) >= 0  # no mask token left


def test_distance_to_known_counts_tokens_from_the_nearest_known_one():
    unknown = outpaint_masks(8)[0][None]  # right half unknown
    distance = distance_to_known(unknown)[0]
    assert torch.equal(distance[:, :4], torch.zeros(8, 4))
    assert torch.allclose(distance[:, 4:], torch.tensor([1.0, 2.0, 3.0, 4.0]).expand(8, 4))
    corner = outpaint_masks(8)[5][None]  # top-right quarter unknown
    # Known: the left half and the lower half; the nearest known token can lie on a diagonal.
    assert distance_to_known(corner)[0, [0, 3, 2], [7, 7, 5]].tolist() == pytest.approx([4.0, 1.0, 2.0])
    assert float(distance_to_known(outpaint_masks(8)[4][None] & ~torch.eye(8, dtype=torch.bool))[0, 1, 2]) == 1.0
    assert torch.equal(distance_to_known(torch.ones(1, 4, 4, dtype=torch.bool)), torch.zeros(1, 4, 4))


@pytest.mark.parametrize("outward", [0.0, 100.0])
def test_outward_order_fixes_the_tokens_next_to_the_known_ones_first(outward):
    net, seen = tiny_maskgit().eval(), []  # the tokens of every pass
    net.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    tokens = torch.randint(0, 16, (4, 8, 8), generator=torch.Generator().manual_seed(1))
    unknown = outpaint_masks(8)[0].expand(4, 8, 8)  # columns 4-7 unknown
    MaskGITSampler(decode_steps=4, temperature=10.0, outward=outward).sample(
        net, tokens, unknown, torch.Generator().manual_seed(2)
    )
    fixed_after_first = seen[1] != net.config.mask_token_id  # known + the first step's tokens
    fixed_after_second = seen[2] != net.config.mask_token_id
    first_outside_column_4 = fixed_after_first[:, :, 5:].any()
    if outward:
        assert not first_outside_column_4 and fixed_after_second[:, :, 4].all()
    else:  # heavy order noise: the plain order places the first tokens anywhere
        assert first_outside_column_4
    with pytest.raises(ValueError, match="outward"):
        MaskGITSampler(outward=-1.0)


def test_nucleus_keeps_only_the_top_p_mass():
    probs = torch.tensor([[0.05, 0.5, 0.3, 0.15], [0.97, 0.01, 0.01, 0.01]])
    assert torch.equal(nucleus(probs, 1.0), probs)
    kept = nucleus(probs, 0.75)
    assert torch.equal(kept[0] > 0, torch.tensor([False, True, True, False]))
    assert torch.equal(kept[1] > 0, torch.tensor([True, False, False, False]))
    assert torch.equal(kept[kept > 0], probs[kept > 0])  # kept entries keep their probabilities
    # A tiny nucleus draws the most likely token only: sampling becomes argmax.
    net = tiny_maskgit().eval()
    tokens = torch.randint(0, net.config.codebook_size, (2, 8, 8))
    unknown = torch.zeros(2, 8, 8, dtype=torch.bool)
    unknown[:, :, 4:] = True
    sampler = MaskGITSampler(decode_steps=1, top_p=1e-6)
    a = sampler.sample(net, tokens, unknown, torch.Generator().manual_seed(0))
    b = sampler.sample(net, tokens, unknown, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    masked = torch.where(unknown, torch.full_like(tokens, net.config.mask_token_id), tokens)
    with torch.no_grad():
        argmax = net(masked).argmax(-1)
    assert torch.equal(a[unknown], argmax[unknown])
    with pytest.raises(ValueError, match="top_p"):
        MaskGITSampler(top_p=0.0)


class ScriptedDistribution(torch.nn.Module):
    """A scripted MaskGIT: the same distribution at every position (token 0 at 0.96, token 1 at
    0.02, the rest share 0.02); records which positions each call saw masked."""

    def __init__(self):
        super().__init__()
        self.config, self.masked_seen = tiny_maskgit().config, []

    def forward(self, tokens):
        self.masked_seen.append(tokens == self.config.mask_token_id)
        v = self.config.codebook_size
        probs = torch.full((v,), 0.02 / (v - 2))
        probs[0], probs[1] = 0.96, 0.02
        return probs.log().expand(*tokens.shape, v).clone()


def test_redraw_unlikely_replaces_only_generated_tokens_below_the_threshold():
    net = ScriptedDistribution()
    tokens = torch.ones(2, 6, 6, dtype=torch.long)  # every token is the unlikely id 1 (p = 0.02)
    generated = torch.zeros(2, 6, 6, dtype=torch.bool)
    generated[:, :, 3:] = True
    generators = [torch.Generator().manual_seed(i) for i in range(2)]
    out = redraw_unlikely(net, tokens, generated, 0.05, generators)
    assert (out[generated] == 0).all()  # only token 0 is at least 0.05 probable
    assert (out[~generated] == 1).all()  # known tokens never change
    # Each pass masks one checkerboard half of the generated tokens: no two masked neighbours.
    assert len(net.masked_seen) == 2
    seen = torch.stack(net.masked_seen)  # (2, B, h, w)
    assert torch.equal(seen.any(0), generated) and not (seen[0] & seen[1]).any()
    for masked in seen:
        assert not (masked[:, 1:] & masked[:, :-1]).any() and not (masked[:, :, 1:] & masked[:, :, :-1]).any()
    # Below the token's own probability nothing is redrawn.
    assert torch.equal(redraw_unlikely(net, tokens, generated, 0.01, generators), tokens)
    # The redraws leave the row's generator as it was: later draws are the same with or without.
    state = generators[0].get_state()
    redraw_unlikely(net, tokens, generated, 0.05, generators)
    assert torch.equal(generators[0].get_state(), state)
    # In the sampler: off by default, checked when on.
    tokens, generated = torch.ones(2, 12, 12, dtype=torch.long), torch.ones(2, 12, 12, dtype=torch.bool)
    generated[:, :, :2] = False
    plain = MaskGITSampler(decode_steps=2).sample(net, tokens, generated, torch.Generator().manual_seed(0))
    assert (plain[generated] != 0).any()  # 240 draws from a 0.96 favourite: some land in the tail
    second_look = MaskGITSampler(decode_steps=2, redraw_below=0.05)
    assert (second_look.sample(net, tokens, generated, torch.Generator().manual_seed(0))[generated] == 0).all()
    with pytest.raises(ValueError, match="redraw_below"):
        MaskGITSampler(redraw_below=1.0)


def _decode_sky_ids(tokens):
    """ids 1 and 2: white (a ball); others: a smooth blue-grey a shade apart; 4x4 pixels per token."""
    values = torch.where((tokens == 1) | (tokens == 2), 0.95, 0.4 + 0.002 * tokens.float())
    return values.repeat_interleave(4, 1).repeat_interleave(4, 2)[:, None].expand(-1, 3, -1, -1)


class Favourites(torch.nn.Module):
    """A scripted MaskGIT: logits `scores` (id -> logit) for every position, 0 for other ids."""

    def __init__(self, scores):
        super().__init__()
        self.config, self.scores, self.calls = tiny_maskgit().config, scores, 0

    def forward(self, tokens):
        self.calls += 1
        logits = torch.zeros(*tokens.shape, 16)
        for token_id, score in self.scores.items():
            logits[..., token_id] = score
        return logits


def test_isolated_spots_finds_a_lone_blob_on_smooth_sky_not_in_a_textured_field():
    from skysynth.spots import isolated_spots

    sky = torch.full((1, 3, 48, 48), 0.4)
    ball = sky.clone()
    ball[..., 20:24, 28:32] = 0.95  # one token (4 px) of white on smooth blue-grey
    found = isolated_spots(ball, 3.0, bright=True, token_pixels=4)[0]
    assert found[20:24, 28:32].any() and found.sum() == found[20:24, 28:32].sum()  # there, and only there
    assert not isolated_spots(ball, 3.0, bright=False, token_pixels=4).any()  # it is not dark
    assert not isolated_spots(sky, 3.0, bright=True, token_pixels=4).any()
    hole = sky.clone()
    hole[..., 20:24, 28:32] = 0.1
    found = isolated_spots(hole, 3.0, bright=False, token_pixels=4)[0]
    assert found[20:24, 28:32].any() and found.sum() == found[20:24, 28:32].sum()
    # The same blob inside a field of token-sized blobs as bright is one dip of a texture.
    field = 0.4 + 0.55 * torch.randint(0, 2, (1, 1, 12, 12), generator=torch.Generator().manual_seed(0)).float()
    field = field.repeat_interleave(4, 2).repeat_interleave(4, 3).expand(-1, 3, -1, -1).clone()
    field[..., 20:24, 28:32] = 0.95
    assert not isolated_spots(field, 3.0, bright=True, token_pixels=4)[0, 18:26, 26:34].any()


def test_repair_spots_redraws_generated_tokens_under_a_lone_ball_only():
    tokens = torch.zeros(1, 12, 12, dtype=torch.long)
    generated = torch.zeros(1, 12, 12, dtype=torch.bool)
    generated[:, :6] = True  # the top half is drawn, the bottom half known
    tokens[0, 3, 4] = 1  # a white ball in the generated sky
    tokens[0, 9, 7] = 1  # ...and one in the known part: never the sampler's to change
    generators = [torch.Generator().manual_seed(0)]
    state = generators[0].get_state()
    repair = SpotRepair(_decode_sky_ids, ("bright",), isolation=3.0, rounds=3)
    net = Favourites({1: 10.0, 0: 8.0})  # the ball is the favourite: the redraw must take another id
    out = repair_spots(net, tokens, generated, repair, 8, generators)
    assert out[0, 3, 4] not in (1, 2) and out[0, 9, 7] == 1
    assert torch.equal(out[0][tokens[0] != 1], tokens[0][tokens[0] != 1])  # nothing else changed
    assert torch.equal(generators[0].get_state(), state)  # later draws are the same with or without
    # A redraw that leaves a ball where it was (another white id) is not kept...
    white_first = Favourites({1: 10.0, 2: 9.0, 0: 1.0})
    one_round = SpotRepair(_decode_sky_ids, rounds=1)
    assert torch.equal(repair_spots(white_first, tokens, generated, one_round, 8, generators), tokens)
    # ...and an id that left a ball is not tried again: the next round draws another.
    assert repair_spots(white_first, tokens, generated, repair, 8, generators)[0, 3, 4] not in (1, 2)
    # A canvas without a spot costs one decode and no network pass; one smaller than the window is left.
    clean, quiet = torch.zeros(1, 12, 12, dtype=torch.long), Favourites({0: 1.0})
    assert torch.equal(repair_spots(quiet, clean, generated, repair, 8, generators), clean) and quiet.calls == 0
    assert torch.equal(repair_spots(net, tokens, generated, repair, 16, generators), tokens)
    with pytest.raises(ValueError, match="spot kinds"):
        SpotRepair(_decode_sky_ids, ("blue",))
    with pytest.raises(ValueError, match="rounds"):
        SpotRepair(_decode_sky_ids, rounds=0)


class FlatFirst(torch.nn.Module):
    """A scripted MaskGIT: puts (almost) all its probability on `flat_ids` for its first
    `flat_calls` calls, then draws uniformly."""

    def __init__(self, flat_ids, flat_calls):
        super().__init__()
        self.config, self.calls, self.flat_ids, self.flat_calls = tiny_maskgit().config, 0, flat_ids, flat_calls

    def forward(self, tokens):
        self.calls += 1
        logits = torch.zeros(*tokens.shape, 16)
        if self.calls <= self.flat_calls:
            logits[..., self.flat_ids] = 50.0
        return logits


def test_collapse_guard_redraws_flat_windows():
    Flat = lambda flat_calls: FlatFirst([3], flat_calls)  # noqa: E731
    tokens = torch.randint(4, 16, (1, 8, 8), generator=torch.Generator().manual_seed(0))
    unknown = outpaint_masks(8)[0][None]
    guarded = GuardedSampler(MaskGITSampler(decode_steps=2), retries=2)
    out = guarded.sample(Flat(flat_calls=2), tokens, unknown, torch.Generator().manual_seed(0))
    share, _ = GuardedSampler.dominant_share(out, unknown, 16)
    assert share < 0.6  # the redraw (no longer flat) replaced the collapsed window
    # A window whose known part is flat too is left alone: flat skies exist.
    flat_tokens = torch.full((1, 8, 8), 3)
    kept = guarded.sample(Flat(flat_calls=100), flat_tokens, unknown, torch.Generator().manual_seed(0))
    assert (kept == 3).all()


def test_collapse_guard_in_pixels_catches_flat_windows_of_mixed_ids():
    FlatIds = lambda flat_calls: FlatFirst([0, 1, 2, 3], flat_calls)  # noqa: E731 (ids 0-3 decode to one grey)
    decode = _decode_grey_ids

    tokens = torch.randint(4, 16, (1, 8, 8), generator=torch.Generator().manual_seed(0))
    unknown = outpaint_masks(8)[0][None]
    sampler = MaskGITSampler(decode_steps=2)
    by_tokens = GuardedSampler(sampler, retries=2).sample(FlatIds(2), tokens, unknown, torch.Generator().manual_seed(0))
    assert (by_tokens[unknown] < 4).all()  # no id dominates: the token criterion lets it pass
    by_pixels = GuardedSampler(sampler, retries=2, decode=decode)
    out = by_pixels.sample(FlatIds(2), tokens, unknown, torch.Generator().manual_seed(0))
    assert (out[unknown] >= 4).any()  # the flat draw was replaced


def _decode_grey_ids(tokens):
    """ids 0-3: one flat grey; other ids: a brightness per id; 4x4 pixels per token."""
    values = torch.where(tokens < 4, torch.full_like(tokens, 8), tokens).float() / 16
    return values.repeat_interleave(4, 1).repeat_interleave(4, 2)[:, None].expand(-1, 3, -1, -1)


def test_collapse_guard_exempts_only_known_parts_flatter_than_its_threshold():
    FlatIds = lambda flat_calls: FlatFirst([0, 1, 2, 3], flat_calls)  # noqa: E731
    # A faintly textured known part: ids 8 and 9 (luminance std 1/32 ~ 0.03 before the blur).
    tokens = 8 + torch.randint(0, 2, (1, 8, 8), generator=torch.Generator().manual_seed(0))
    unknown = outpaint_masks(8)[0][None]
    sampler = MaskGITSampler(decode_steps=2)

    def redrawn(known_flat_std):
        guard = GuardedSampler(sampler, retries=2, decode=_decode_grey_ids, known_flat_std=known_flat_std)
        out = guard.sample(FlatIds(2), tokens, unknown, torch.Generator().manual_seed(0))
        return bool((out[unknown] >= 4).any())

    assert redrawn(0.005)  # the known part counts as textured: its flat continuation is redrawn
    assert not redrawn(0.5)  # the known part counts as flat: a flat continuation may stay


class RowCountingSampler(MaskGITSampler):
    """A MaskGITSampler that adds up the window rows it is asked to draw."""

    rows = 0

    def sample(self, net, tokens, unknown, generator):
        self.rows += tokens.shape[0]
        return super().sample(net, tokens, unknown, generator)


def test_collapse_guard_redraws_no_more_windows_than_its_budget_over_all_calls():
    tokens, unknown = _textured_window()
    tokens, unknown = tokens.expand(4, -1, -1), unknown.expand(4, -1, -1)
    sampler = RowCountingSampler(decode_steps=2)
    guard = GuardedSampler(sampler, retries=3, decode=_decode_grey_ids, redraw_budget=5)
    guard.sample(FlatFirst([0, 1, 2, 3], 100), tokens, unknown, torch.Generator().manual_seed(0))
    assert sampler.rows == 4 + 5  # every window stays collapsed: 4 first draws, then the budget's 5 redraws
    guard.sample(FlatFirst([0, 1, 2, 3], 100), tokens, unknown, torch.Generator().manual_seed(0))
    assert sampler.rows == 4 + 5 + 4  # spent: the next call's windows are drawn once
    unbounded = RowCountingSampler(decode_steps=2)
    GuardedSampler(unbounded, retries=3, decode=_decode_grey_ids).sample(
        FlatFirst([0, 1, 2, 3], 100), tokens, unknown, torch.Generator().manual_seed(0)
    )
    assert unbounded.rows == 4 * (1 + 3)


class RecordingSampler(MaskGITSampler):
    """A MaskGITSampler that logs (softmax temperature, order) of every draw into `draws`
    (shared by the guard's copies of it)."""

    def __init__(self, draws: list, **kwargs):
        super().__init__(**kwargs)
        self.draws = draws

    def sample(self, net, tokens, unknown, generator):
        self.draws.append((self.sampling_temperature, self.order))
        return super().sample(net, tokens, unknown, generator)


def _textured_window():
    """(tokens, unknown): textured known ids 4-15 and the first outpainting mask, 8x8 tokens."""
    tokens = torch.randint(4, 16, (1, 8, 8), generator=torch.Generator().manual_seed(0))
    return tokens, outpaint_masks(8)[0][None]


def test_collapse_guard_redraws_hotter_each_time():
    tokens, unknown = _textured_window()
    draws = []
    sampler = RecordingSampler(draws, decode_steps=2)
    guard = GuardedSampler(sampler, retries=3, decode=_decode_grey_ids, retry_temperature_step=0.25)
    out = guard.sample(FlatFirst([0, 1, 2, 3], 100), tokens, unknown, torch.Generator().manual_seed(0))
    assert [t for t, _ in draws] == [1.0, 1.25, 1.5, 1.75]  # every draw collapsed: each redraw hotter
    assert (out[unknown] < 4).all()  # nothing better was found: a collapsed draw is returned


def test_collapse_guard_can_redraw_in_another_order():
    tokens, unknown = _textured_window()
    draws = []
    guard = GuardedSampler(
        RecordingSampler(draws, decode_steps=2), retries=2, decode=_decode_grey_ids, retry_order="halton"
    )
    out = guard.sample(FlatFirst([0, 1, 2, 3], 2), tokens, unknown, torch.Generator().manual_seed(0))
    assert [o for _, o in draws] == ["confidence", "halton"]  # the first draw collapsed, the Halton redraw did not
    assert (out[unknown] >= 4).any() and (out[~unknown] == tokens[~unknown]).all()
    assert guard.sampler.order == "confidence"  # the redraw's order does not leak into later first draws
    draws.clear()
    late = GuardedSampler(
        RecordingSampler(draws, decode_steps=2),
        retries=3,
        decode=_decode_grey_ids,
        retry_order="halton",
        retry_order_after=2,
    )
    late.sample(FlatFirst([0, 1, 2, 3], 100), tokens, unknown, torch.Generator().manual_seed(0))
    assert [o for _, o in draws] == ["confidence", "confidence", "confidence", "halton"]  # only the last redraw
    with pytest.raises(ValueError, match="retry_order"):
        GuardedSampler(MaskGITSampler(), retry_order="spiral")


@pytest.mark.parametrize("local_mixing", [False, True])
def test_maskgit_save_load_round_trip(tmp_path, local_mixing):
    net = tiny_maskgit(local_mixing=local_mixing)
    net.save_pretrained(tmp_path / "mg")
    loaded = MaskGIT.from_pretrained(tmp_path / "mg").eval()
    assert loaded.config.local_mixing == local_mixing
    tokens = torch.randint(0, 17, (2, 8, 6))
    with torch.no_grad():
        assert torch.allclose(net(tokens), loaded(tokens), atol=1e-2)  # fp16 weights on disk


@pytest.mark.parametrize("local_mixing", [False, True])
def test_a_grown_maskgit_starts_as_the_shallower_one_and_then_learns_with_every_block(local_mixing):
    small = tiny_maskgit(local_mixing=local_mixing, class_names=("cumulus", "cirrus"))
    with torch.no_grad():
        small.class_embedding.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(1))
    config = dataclasses.replace(small.config, num_layers=small.config.num_layers + 2)
    grown = MaskGIT(config)
    grown.grow_from(small)
    small.eval(), grown.eval()
    tokens, labels = torch.randint(0, 17, (2, 8, 6)), torch.tensor([0, 2])
    with torch.no_grad():
        assert torch.allclose(grown(tokens, labels), small(tokens, labels), atol=1e-6)
    # The new blocks are not dead: one step of training moves their residual outputs off zero.
    grown.train()
    grown(tokens, labels).logsumexp(-1).mean().backward()
    new_block = grown.blocks[-1]
    assert new_block.proj.weight.grad.abs().sum() > 0 and new_block.mlp[2].weight.grad.abs().sum() > 0
    # Only depth may differ; a shallower or wider target is refused.
    for change in ({"num_layers": small.config.num_layers}, {"num_layers": 9, "hidden_size": 64}):
        with pytest.raises(ValueError, match="can grow only"):
            MaskGIT(dataclasses.replace(small.config, **change)).grow_from(small)


def _conditional(seed: int = 0) -> MaskGIT:
    net = tiny_maskgit(seed, class_names=("cumulus", "cirrus", "clearsky"))
    with torch.no_grad():  # a trained-looking class embedding (it starts at zero)
        net.class_embedding.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(seed))
    return net


def test_class_condition_none_is_the_unconditional_path_and_guidance_mixes_logits(tmp_path):
    from skysynth.schedulers.guidance import GuidedNet

    net = _conditional()
    tokens = torch.randint(0, 17, (3, 8, 8))
    with torch.no_grad():
        unconditional = net(tokens)
        cirrus = net(tokens, torch.full((3,), 1))
        assert torch.equal(net(tokens, torch.full((3,), net.config.null_class)), unconditional)
        assert not torch.allclose(cirrus, unconditional)
        assert torch.equal(GuidedNet(net, None, 5.0)(tokens), unconditional)
        assert torch.allclose(GuidedNet(net, 1, 1.0)(tokens), cirrus, atol=1e-5)
        assert torch.allclose(GuidedNet(net, 1, 0.0)(tokens), unconditional, atol=1e-5)
        assert torch.allclose(GuidedNet(net, 1, 3.0)(tokens), unconditional + 3 * (cirrus - unconditional), atol=1e-4)
    # Sampling through the wrapper without a label draws exactly what the bare network draws.
    unknown = torch.zeros(2, 8, 8, dtype=torch.bool)
    unknown[..., 4:] = True
    known = torch.randint(0, 16, (2, 8, 8))
    sampler = MaskGITSampler(decode_steps=3)
    plain = sampler.sample(net, known, unknown, torch.Generator().manual_seed(1))
    wrapped = sampler.sample(GuidedNet(net, None), known, unknown, torch.Generator().manual_seed(1))
    assert torch.equal(plain, wrapped)
    # The class names survive a save/load round trip; an unconditional model refuses labels.
    net.save_pretrained(tmp_path / "cond")
    assert MaskGIT.from_pretrained(tmp_path / "cond").config.class_names == ("cumulus", "cirrus", "clearsky")
    with pytest.raises(ValueError, match="no class condition"):
        tiny_maskgit()(tokens, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="conditional model"):
        GuidedNet(tiny_maskgit(), 0)


def test_conditional_training_sees_labels_and_drops_some_to_none(tmp_path):
    from skysynth.lit.maskgit import MaskGITLit

    tiny_vqvae().save_pretrained(tmp_path / "tok")
    net = {
        "codebook_size": 16,
        "tokens_per_side": 8,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "num_layers": 1,
        "class_names": ["cumulus", "cirrus"],
    }
    lit = MaskGITLit(net=net, optim=OPTIM, tokenizer=str(tmp_path / "tok"), grid_every_n_steps=0, label_dropout=0.5)
    batch = {"image": torch.rand(400, 3, 8, 8), "label": ["cirrus", "unknown", "cumulus", "mixed"] * 100}
    kept = lit.labels_of(batch, drop=False)
    assert kept[:4].tolist() == [1, 2, 0, 2]  # unknown and untrained types are "none" (index 2)
    dropped = lit.labels_of(batch, drop=True)
    share = float((dropped[::2] == 2).float().mean())  # of the labelled half, about label_dropout
    assert 0.35 < share < 0.65
    images = torch.rand(4, 3, 32, 32)
    before = lit.net.class_embedding.weight.clone()
    batches = [{"image": images, "key": list("abcd"), "label": ["cirrus", "cumulus", "cirrus", "cumulus"]}] * 2
    import lightning as L

    trainer = L.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(lit, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    assert not torch.equal(before, lit.net.class_embedding.weight)  # the condition is learned


def test_maskgit_training_step(tmp_path):
    from skysynth.lit.maskgit import MaskGITLit

    tiny_vqvae().save_pretrained(tmp_path / "tok")
    lit = MaskGITLit(
        net={
            "codebook_size": 16,
            "tokens_per_side": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "num_layers": 1,
            "local_mixing": True,
        },
        optim=OPTIM,
        tokenizer=str(tmp_path / "tok"),
        grid_every_n_steps=0,
    )
    before = {k: v.clone() for k, v in lit.net.state_dict().items()}
    tokenizer_before = {k: v.clone() for k, v in lit.tokenizer.state_dict().items()}
    fit_steps(lit, torch.rand(4, 3, 32, 32))
    assert any(not torch.equal(before[k], v) for k, v in lit.net.state_dict().items())
    assert all(torch.equal(tokenizer_before[k], v) for k, v in lit.tokenizer.state_dict().items())  # frozen
    assert not any(k.startswith("tokenizer.") for k in lit.state_dict())


def test_known_code_shares_leave_out_what_the_window_opens_onto():
    from skysynth.schedulers.masking import code_shares, known_code_shares

    # A 4x4 picture of four quadrant codes (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right),
    # one window of side 2 at (1, 1): its halves split the picture in the middle.
    picture = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    tokens = picture.expand(8, 4, 4)
    one = torch.ones(8, dtype=torch.long)
    shares = known_code_shares(tokens, one, one, torch.arange(8), window=2, vocabulary=5)
    assert torch.allclose(shares.sum(1), torch.ones(8))
    assert shares[0].tolist() == [0.5, 0, 0.5, 0, 0]  # right half hidden: the left half is known
    assert shares[1].tolist() == [0, 0.5, 0, 0.5, 0]
    assert shares[2].tolist() == [0.5, 0.5, 0, 0, 0]  # bottom hidden
    assert shares[3].tolist() == [0, 0, 0.5, 0.5, 0]  # top hidden
    third = 1 / 3
    assert torch.allclose(shares[4], torch.tensor([0, third, third, third, 0]))  # top-left quadrant hidden
    assert torch.allclose(shares[7], torch.tensor([third, third, third, 0, 0]))
    known = torch.zeros(4, 4, dtype=torch.bool)
    known[:, :2] = True
    assert torch.equal(code_shares(picture, known, 5), shares[0])


def test_code_context_starts_as_the_network_without_it_and_is_learned(tmp_path):
    from skysynth.lit.maskgit import MaskGITLit
    from skysynth.schedulers.guidance import GuidedNet

    plain = tiny_maskgit()
    with_context = MaskGIT(dataclasses.replace(plain.config, context_codes=True)).eval()
    assert with_context.add_conditions_to(plain) == ["context_projection"]
    tokens = torch.randint(0, 16, (3, 8, 8))
    context = torch.softmax(torch.randn(3, 16), -1)
    assert torch.equal(plain(tokens), with_context(tokens, None, context))  # zero at the start
    with pytest.raises(ValueError, match="no code context"):
        plain(tokens, None, context)
    with pytest.raises(ValueError, match="only the class or context"):
        tiny_maskgit().add_conditions_to(plain)  # nothing to add
    # Once learned, the context changes the logits, and GuidedNet hands the call's context on.
    torch.nn.init.normal_(with_context.context_projection.weight)
    assert not torch.allclose(with_context(tokens, None, context), with_context(tokens))
    guided = GuidedNet(with_context, None, context=context[0])
    assert torch.allclose(guided(tokens), with_context(tokens, None, context[0].expand(3, -1)))
    assert torch.equal(GuidedNet(plain, None, context=context[0])(tokens), plain(tokens))  # ignored without
    # Training on pictures larger than the window: one window each, the rest as its context.
    tiny_vqvae().save_pretrained(tmp_path / "tok")
    net = {**{k: getattr(plain.config, k) for k in ("codebook_size", "hidden_size", "intermediate_size")}}
    net.update(tokens_per_side=8, num_heads=2, num_layers=1, context_codes=True)
    lit = MaskGITLit(net=net, optim=OPTIM, tokenizer=str(tmp_path / "tok"), grid_every_n_steps=0, context_dropout=0.5)
    pictures = torch.randint(0, 16, (400, 12, 12))
    windows = lit.windows_of(pictures, torch.full((400,), 2), torch.full((400,), 3))
    assert torch.equal(windows[0], pictures[0, 2:10, 3:11])
    zeros = torch.zeros(400, dtype=torch.long)
    dropped = lit.context_of(pictures, zeros, zeros, zeros, drop=True)
    assert 0.35 < float((dropped.sum(1) == 0).float().mean()) < 0.65  # about context_dropout train without
    before = lit.net.context_projection.weight.clone()
    fit_steps(lit, torch.rand(4, 3, 48, 48))  # 12x12 tokens, windows of 8
    assert not torch.equal(before, lit.net.context_projection.weight)


def test_maskgit_positions_work_on_smaller_windows():
    net = tiny_maskgit(side=8)
    assert net(torch.randint(0, 16, (1, 5, 7))).shape == (1, 5, 7, 16)


# --- upscaler --------------------------------------------------------------------------------


def test_noise_schedule_round_trip():
    schedule = CosineNoiseSchedule()
    clean, noise = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    t = torch.tensor([0.0, 0.3, 0.7, 1.0])
    noisy = schedule.add_noise(clean, noise, t)
    signal, noise_rate = schedule.rates(t.view(-1, 1, 1, 1))
    assert torch.allclose((noisy - noise_rate * noise) / signal, clean, atol=1e-5)
    assert torch.allclose(signal**2 + noise_rate**2, torch.ones_like(signal))
    s0, _ = schedule.rates(torch.tensor(0.0))
    s1, _ = schedule.rates(torch.tensor(1.0))
    assert float(s0) == pytest.approx(0.95, abs=1e-6) and float(s1) == pytest.approx(0.02, abs=1e-6)
    # A perfect noise predictor makes DDIM return the clean signal exactly.
    recovered = schedule.sample(lambda x, rate: noise, clean.shape, 4, torch.Generator().manual_seed(0))
    assert recovered.shape == clean.shape


def test_ddim_with_oracle_recovers_clean_image():
    schedule = CosineNoiseSchedule()
    clean = torch.rand(1, 3, 8, 8)

    def oracle(x, noise_rate):
        signal = torch.sqrt(1 - noise_rate**2).view(-1, 1, 1, 1)
        return (x - signal * clean) / noise_rate.view(-1, 1, 1, 1)

    out = schedule.sample(oracle, clean.shape, 5, torch.Generator().manual_seed(0))
    assert torch.allclose(out, clean, atol=1e-4)


def test_upscaler_deterministic_with_generator_and_keeps_known_pixels():
    net = tiny_upscaler()
    schedule = CosineNoiseSchedule()
    blurry = torch.rand(1, 3, 16, 16)
    known = torch.rand(1, 3, 16, 16)
    mask = torch.zeros(1, 3, 16, 16, dtype=torch.bool)
    mask[..., :8] = True

    def run(seed):
        return schedule.sample(
            lambda x, r: net.predict_noise(x, blurry, r),
            blurry.shape,
            3,
            torch.Generator().manual_seed(seed),
            known=known,
            known_mask=mask,
        )

    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[mask], known[mask])


def test_mean_of_draws_averages_independent_runs_and_keeps_known_pixels():
    net = tiny_upscaler()
    schedule = CosineNoiseSchedule()
    blurry, known = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    mask = torch.zeros(1, 3, 16, 16, dtype=torch.bool)
    mask[..., :8] = True
    predict = lambda x, r: net.predict_noise(x, blurry, r)  # noqa: E731
    generator = torch.Generator().manual_seed(3)
    singles = [schedule.sample(predict, blurry.shape, 2, generator, known, mask) for _ in range(3)]
    mean = schedule.sample(predict, blurry.shape, 2, torch.Generator().manual_seed(3), known, mask, draws=3)
    assert torch.allclose(mean, torch.stack(singles).mean(0), atol=1e-6)
    assert not torch.allclose(mean, singles[0]) and torch.allclose(mean[mask], known[mask])
    with pytest.raises(ValueError, match="draws"):
        schedule.sample(predict, blurry.shape, 1, generator, draws=0)


def tiny_upscaler_lit(tmp_path, **settings):
    """An UpscalerLit with a tiny U-Net and a tiny tokenizer saved under tmp_path/tok."""
    from skysynth.lit.upscaler import UpscalerLit

    tiny_vqvae().save_pretrained(tmp_path / "tok")
    net = {"channels": [8, 16], "scale_factor": 2}
    return UpscalerLit(net=net, optim=OPTIM, tokenizer=str(tmp_path / "tok"), grid_every_n_steps=0, **settings)


@pytest.mark.parametrize("loss", ["l1", "mse"])
def test_upscaler_training_step(tmp_path, loss):
    from skysynth.lit.upscaler import UpscalerLit

    lit = tiny_upscaler_lit(tmp_path, loss=loss)
    before = lit.net.conv_in.weight.clone()
    fit_steps(lit, torch.rand(2, 3, 32, 32))
    assert not torch.equal(before, lit.net.conv_in.weight)
    with pytest.raises(ValueError, match="multiples"):
        UNet(lit.net.config)(torch.rand(1, 3, 9, 9), torch.rand(1, 3, 9, 9), torch.rand(1))
    with pytest.raises(ValueError, match="l1 or mse"):
        UpscalerLit(net={"channels": [8, 16]}, optim=OPTIM, tokenizer=str(tmp_path / "tok"), loss="huber")


def test_upscaler_trains_on_windows_of_a_whole_round_trip(tmp_path):
    from skysynth.common.degrade import blurry_version
    from skysynth.lit.upscaler import UpscalerLit

    lit = tiny_upscaler_lit(tmp_path, train_crop=16)
    sharp = torch.rand(2, 3, 32, 32)
    blurry = blurry_version(lit.tokenizer, sharp, 2)
    window_sharp, window_blurry = lit._random_window(sharp, blurry, 16, torch.Generator().manual_seed(0))
    assert window_sharp.shape[-2:] == (16, 16)
    # The window's blurry image is cut from the whole round trip, not made from the window alone.
    found = [
        (top, left)
        for top in range(17)
        for left in range(17)
        if torch.equal(sharp[..., top : top + 16, left : left + 16], window_sharp)
    ]
    assert len(found) == 1
    top, left = found[0]
    assert torch.equal(window_blurry, blurry[..., top : top + 16, left : left + 16])
    assert not torch.allclose(window_blurry, blurry_version(lit.tokenizer, window_sharp, 2))
    before = lit.net.conv_in.weight.clone()
    fit_steps(lit, sharp)
    assert not torch.equal(before, lit.net.conv_in.weight)
    with pytest.raises(ValueError, match="multiple"):
        UpscalerLit(net={"channels": [8, 16]}, optim=OPTIM, tokenizer=str(tmp_path / "tok"), train_crop=7)


@pytest.mark.parametrize("adversarial_input", ["image", "detail"])
def test_upscaler_adversarial_loss_acts_on_the_pipelines_one_step_sample(tmp_path, adversarial_input):
    from skysynth.schedulers.noise import sample_detail

    torch.manual_seed(0)
    adversarial = {"weight": 0.5, "start_step": 0, "adaptive": True, "discriminator": {"base_channels": 8, "layers": 2}}
    lit = tiny_upscaler_lit(tmp_path, adversarial=adversarial, adversarial_input=adversarial_input)
    torch.nn.init.normal_(lit.net.conv_out.weight, std=0.1)  # a zero last layer predicts no detail at all
    blurry = torch.rand(2, 3, 32, 32)
    one_step = blurry + lit.one_step_detail(blurry, torch.Generator().manual_seed(5)) / lit.net.config.edge_scale
    with torch.no_grad():
        detail = sample_detail(lit.net, blurry, 1, torch.Generator().manual_seed(5))
    pipeline = blurry + detail / lit.net.config.edge_scale
    assert one_step.requires_grad and torch.allclose(one_step, pipeline, atol=1e-5)
    assert not torch.allclose(one_step, blurry, atol=1e-3)
    before = {k: v.clone() for k, v in lit.discriminator.state_dict().items()}
    fit_steps(lit, torch.rand(2, 3, 32, 32), steps=2)
    assert any(not torch.equal(before[k], v) for k, v in lit.discriminator.state_dict().items())
    assert all(not k.startswith("discriminator") for k in lit.net.state_dict())  # never exported
    plain = tiny_upscaler_lit(tmp_path)
    assert plain.discriminator is None
    with pytest.raises(ValueError, match="unknown key.*wieght"):
        tiny_upscaler_lit(tmp_path, adversarial={"wieght": 0.5})
    with pytest.raises(ValueError, match="adversarial.discriminator: unknown key.*depth"):
        tiny_upscaler_lit(tmp_path, adversarial={"weight": 0.5, "discriminator": {"depth": 2}})
    with pytest.raises(ValueError, match="image or detail"):
        tiny_upscaler_lit(tmp_path, adversarial_input="edges")


def test_upscaler_one_step_sample_keeps_its_gradient_under_bf16():
    """At t = 1 the noise rate (0.9998) is 1 in bf16: computed there, the signal rate is 0 and
    the network's output (v) drops out of the noise estimate, gradient and all."""
    torch.manual_seed(0)
    net = tiny_upscaler()
    torch.nn.init.normal_(net.conv_out.weight, std=0.1)
    noisy, blurry, rate = torch.randn(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.full((2,), 0.9998)
    exact = net.predict_noise(noisy, blurry, rate)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        clean = net.predict_clean(noisy, blurry, rate)
        rough = net.predict_noise(noisy, blurry, rate)
    assert rough.dtype == torch.float32 and torch.allclose(rough, exact, atol=0.02)
    (gradient,) = torch.autograd.grad(clean.sum(), net.conv_out.weight)
    assert gradient.abs().sum() > 0


def test_detail_band_is_what_a_downscale_loses():
    from skysynth.common.degrade import detail_band

    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8), size=(32, 32), mode="bilinear")
    checker = (torch.arange(32).view(1, 1, 32, 1) + torch.arange(32).view(1, 1, 1, 32)) % 2
    checker = checker.float().expand(1, 3, 32, 32)
    assert detail_band(smooth, 2).abs().mean() < 0.1 * detail_band(checker, 2).abs().mean()
    assert torch.allclose(detail_band(checker, 2).abs().mean(), torch.tensor(0.5), atol=0.05)


def test_upscaler_validation_samples_in_fp32_under_bf16_training(tmp_path):
    lit = tiny_upscaler_lit(tmp_path).eval()
    seen = []
    lit.net.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        lit.validation_step({"image": torch.rand(2, 3, 32, 32)}, 1)  # batch 1: no grid to save
    assert seen and set(seen) == {torch.float32}


def test_tiled_upscaling_leaves_no_seams():
    """Overlapping tiles with known-pixel replacement agree: across tile borders the output is as
    smooth as inside tiles (seam score ~1), unlike tiles restored independently."""
    from skysynth.eval.quality import seam_score

    torch.manual_seed(0)
    net = tiny_upscaler()
    scale = net.config.edge_scale
    schedule = CosineNoiseSchedule()
    blurry = torch.nn.functional.interpolate(torch.rand(1, 3, 10, 10), size=(80, 80), mode="bicubic").clamp(0, 1)

    def restore(tile_blurry, known, mask, seed=0):
        return schedule.sample(
            lambda x, r: net.predict_noise(x, tile_blurry, r),
            tile_blurry.shape,
            2,
            torch.Generator().manual_seed(seed),
            known=known,
            known_mask=mask,
        )

    zeros, none = torch.zeros_like(blurry), torch.zeros_like(blurry, dtype=torch.bool)
    # Tiles start at 0 and 32; the second one's known overlap (32..48) ends at column 48.
    tiled = blurry + upscale_tiles(restore, blurry, zeros, none, tile=48, overlap=16) / scale
    independent = blurry.clone()  # two tiles side by side, each with its own noise: a seam at 40
    for seed, left in enumerate((0, 40)):
        area = (..., slice(left, left + 40))
        independent[area] += restore(blurry[area], zeros[area], none[area], seed=seed + 1) / scale
    tiled_score = seam_score(tiled, [32, 48], "x")
    assert tiled_score < 1.5
    assert seam_score(independent, [40], "x") > tiled_score
