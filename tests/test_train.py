"""The training framework, run as a user runs it: Hydra CLI in subprocesses, tiny models."""

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from data_prep import shards
from tests.conftest import sky_image
from tests.helpers import ROOT, assert_one_line_error, run_module

TINY_VQVAE = [
    "model=vqvae",
    "logger=csv",
    "trainer.enable_progress_bar=false",
    "data.batch_size=4",
    "data.crop_size=32",
    "data.num_workers=0",
    "data.shuffle_buffer=8",
    "data.train_samples_per_epoch=40",
    "model.lit.net.base_channels=8",
    "model.lit.net.embed_dim=8",
    "model.lit.net.codebook_size=16",
    "model.lit.grid_every_n_steps=0",
    "trainer.log_every_n_steps=1",
    "trainer.accelerator=cpu",
]


@pytest.fixture(scope="module")
def tiny_shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_data")
    photos = root / "photos" / "sky"
    photos.mkdir(parents=True)
    for i in range(48):
        sky_image(48, 48, seed=i).save(photos / f"p{i:03d}.jpg")
    cfg = OmegaConf.load(ROOT / "conf/prep/shards.yaml")
    cfg.pop("defaults"), cfg.pop("hydra")
    cfg.source, cfg.out, cfg.workers, cfg.progress, cfg.frames_per_shard = (
        str(root / "photos"),
        str(root / "shards"),
        1,
        False,
        12,
    )
    shards.run(cfg)
    return root / "shards"


def train(run_dir: Path, shards_dir: Path, *extra: str):
    result = run_module("skysynth.train", *TINY_VQVAE, f"data.shards={shards_dir}", f"hydra.run.dir={run_dir}", *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_ddp_two_cpu_processes_end_identical(tiny_shards, tmp_path):
    train(tmp_path / "ddp", tiny_shards, "trainer=ddp_cpu", "trainer.max_steps=3", "save_rank_weights=true")
    rank0 = torch.load(tmp_path / "ddp" / "rank0_weights.pt")
    rank1 = torch.load(tmp_path / "ddp" / "rank1_weights.pt")
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    initial = torch.load(tmp_path / "ddp" / "rank0_weights.pt")
    assert any(v.abs().sum() > 0 for v in initial.values())
    assert (tmp_path / "ddp" / "export" / "model.safetensors").is_file()


def _csv_steps(run_dir: Path) -> list[int]:
    from skysynth.loggers import read_metrics

    return [int(float(row["step"])) for row in read_metrics(run_dir / "csv" / "metrics.csv")[1] if row.get("step")]


def test_resume_needs_only_the_run_folder_and_keeps_earlier_metrics(tiny_shards, tmp_path):
    train(tmp_path / "full", tiny_shards, "trainer.max_steps=6")
    train(tmp_path / "split", tiny_shards, "trainer.max_steps=3")
    halfway = load_file(tmp_path / "split" / "export" / "model.safetensors")
    # No model, data or size overrides repeated: the run's own config comes back from its folder.
    result = run_module("skysynth.train", f"hydra.run.dir={tmp_path}/split", "ckpt_path=last", "trainer.max_steps=6")
    assert result.returncode == 0, result.stderr[-3000:]
    full = load_file(tmp_path / "full" / "export" / "model.safetensors")
    resumed = load_file(tmp_path / "split" / "export" / "model.safetensors")
    assert all(torch.equal(full[k], resumed[k]) for k in full)  # resumed = uninterrupted, bit for bit
    assert not all(torch.equal(full[k], halfway[k]) for k in full)  # and the resume did train
    steps = _csv_steps(tmp_path / "split")
    assert min(steps) < 3 <= max(steps), steps  # the first half's rows survive the resume
    assert sorted(set(steps)) == sorted(set(_csv_steps(tmp_path / "full")))
    result = run_module("skysynth.train", f"hydra.run.dir={tmp_path}/split", "ckpt_path=last", "model=maskgit")
    assert_one_line_error(result, "cannot resume as model=maskgit")


def test_last_checkpoint_holds_the_final_step_after_earlier_step_checkpoints(tiny_shards, tmp_path):
    # A step checkpoint at step 3, the run stops at 5: resuming must start at 5, not 3.
    train(tmp_path / "full", tiny_shards, "trainer.max_steps=8")
    train(tmp_path / "split", tiny_shards, "trainer.max_steps=5", "checkpoint_every_n_steps=3")
    assert torch.load(tmp_path / "split/checkpoints/last.ckpt", weights_only=False)["global_step"] == 5
    result = run_module("skysynth.train", f"hydra.run.dir={tmp_path}/split", "ckpt_path=last", "trainer.max_steps=8")
    assert result.returncode == 0, result.stderr[-3000:]
    full = load_file(tmp_path / "full" / "export" / "model.safetensors")
    resumed = load_file(tmp_path / "split" / "export" / "model.safetensors")
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_adversarial_run_resumes_exactly(tiny_shards, tmp_path):
    adversarial = [
        "model.lit.adversarial.weight=0.1",
        "model.lit.adversarial.start_step=1",
        "model.lit.adversarial.discriminator.base_channels=8",
        "model.lit.adversarial.discriminator.layers=2",
    ]
    train(tmp_path / "full", tiny_shards, "trainer.max_steps=4", *adversarial)
    train(tmp_path / "split", tiny_shards, "trainer.max_steps=2", *adversarial)
    result = run_module("skysynth.train", f"hydra.run.dir={tmp_path}/split", "ckpt_path=last", "trainer.max_steps=4")
    assert result.returncode == 0, result.stderr[-3000:]
    full = load_file(tmp_path / "full" / "export" / "model.safetensors")
    resumed = load_file(tmp_path / "split" / "export" / "model.safetensors")
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    assert "train/d_loss" in (tmp_path / "full" / "csv" / "metrics.csv").read_text()


def test_kill_9_then_resume_ends_at_the_uninterrupted_weights(tiny_shards, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    steps = ["trainer.max_steps=30", "checkpoint_every_n_steps=2", "data.train_samples_per_epoch=400"]
    train(tmp_path / "full", tiny_shards, *steps)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "skysynth.train", *TINY_VQVAE, f"data.shards={tiny_shards}", *steps]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    process = subprocess.Popen([*args, f"hydra.run.dir={tmp_path}/killed"], cwd=ROOT, env=env, **quiet)
    deadline = time.monotonic() + 300
    while not (tmp_path / "killed" / "checkpoints" / "step0000004.ckpt").exists():
        assert process.poll() is None and time.monotonic() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "export").exists()
    result = run_module("skysynth.train", f"hydra.run.dir={tmp_path}/killed", "ckpt_path=last")
    assert result.returncode == 0, result.stderr[-3000:]
    full = load_file(tmp_path / "full" / "export" / "model.safetensors")
    resumed = load_file(tmp_path / "killed" / "export" / "model.safetensors")
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_no_qualifying_sample_is_an_error_not_a_hang(tiny_shards, tmp_path):
    # Every key in validation: no training sample. Before, a worker spun for ever.
    result = run_module(
        "skysynth.train",
        *TINY_VQVAE,
        f"data.shards={tiny_shards}",
        f"hydra.run.dir={tmp_path}/r",
        "data.val_fraction=1.0",
        timeout=120,
    )
    assert_one_line_error(result, "no training samples")
    assert not (tmp_path / "r").exists()  # a failed start leaves no empty run folder
    empty = tmp_path / "empty"
    empty.mkdir()
    import tarfile

    tarfile.open(empty / "shard-00000.tar", "w").close()
    result = run_module(
        "skysynth.train", *TINY_VQVAE, f"data.shards={empty}", f"hydra.run.dir={tmp_path}/r2", timeout=120
    )
    assert_one_line_error(result, "hold no samples")


def test_stream_with_no_kept_sample_raises_instead_of_spinning(tiny_shards):
    import signal

    from skysynth.data.datamodule import decode_image, find_shards
    from skysynth.data.stream import ShardStream

    stream = ShardStream(find_shards(tiny_shards), lambda key: False, decode_image, lambda s, g: s, train=True)

    def too_long(*_):
        raise TimeoutError("the stream spun")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)
    try:
        with pytest.raises(RuntimeError, match="no training sample"):
            next(iter(stream))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_train_without_model_and_tensorboard_without_package_are_one_line(tiny_shards, tmp_path):
    result = run_module("skysynth.train", f"hydra.run.dir={tmp_path}/nomodel")
    assert_one_line_error(result, "no model chosen")
    assert not (tmp_path / "nomodel").exists()
    try:
        import tensorboard  # noqa: F401

        pytest.skip("tensorboard is installed here")
    except ImportError:
        pass
    args = [a for a in TINY_VQVAE if a != "logger=csv"]
    result = run_module(
        "skysynth.train", *args, "logger=tensorboard", f"data.shards={tiny_shards}", f"hydra.run.dir={tmp_path}/tb"
    )
    assert_one_line_error(result, "pip install")


def test_multirun_sweep_writes_two_run_folders(tiny_shards, tmp_path):
    result = run_module(
        "skysynth.train",
        "-m",
        *TINY_VQVAE,
        f"data.shards={tiny_shards}",
        "trainer.max_steps=2",
        "model.lit.optim.lr=1e-3,2e-3",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert len(runs) == 2
    lrs = set()
    for run in runs:
        assert (run / "export" / "model.safetensors").is_file()
        lrs.add(OmegaConf.load(run / ".hydra" / "config.yaml").model.lit.optim.lr)
    assert lrs == {1e-3, 2e-3}


def test_bad_configs_fail_with_one_line(tiny_shards, tmp_path):
    result = run_module("skysynth.train", "model=nosuchmodel")
    assert result.returncode != 0 and "nosuchmodel" in result.stderr and "Traceback" not in result.stderr
    result = run_module("skysynth.train", *TINY_VQVAE, f"data.shards={tmp_path}/missing", f"hydra.run.dir={tmp_path}/r")
    assert_one_line_error(result, "shard folder not found")
    train(tmp_path / "vq", tiny_shards, "trainer.max_steps=1")
    result = run_module(
        "skysynth.train",
        "model=upscaler",
        "logger=csv",
        f"data.shards={tiny_shards}",
        f"model.lit.tokenizer={tmp_path / 'vq' / 'export'}",
        f"ckpt_path={tmp_path}/vq/checkpoints/last.ckpt",
        f"hydra.run.dir={tmp_path}/r2",
        "data.num_workers=0",
        "data.crop_size=32",
    )
    assert_one_line_error(result, "vqvae")
    # Fine-tuning from exported weights of another model, or from a folder without weights.
    result = run_module(
        "skysynth.train",
        *TINY_VQVAE,
        f"data.shards={tiny_shards}",
        f"hydra.run.dir={tmp_path}/r3",
        f"init_weights={tmp_path}/nothing_here",
    )
    assert_one_line_error(result, "no vqvae weights")
    # A bad setting raised inside a model's constructor (Hydra wraps it) is one line too.
    result = run_module(
        "skysynth.train",
        *TINY_VQVAE,
        f"data.shards={tiny_shards}",
        f"hydra.run.dir={tmp_path}/r4",
        "model.lit.net.codebook_update=magic",
    )
    assert_one_line_error(result, "codebook_update must be")


def test_init_weights_starts_from_exported_network(tiny_shards, tmp_path):
    train(tmp_path / "first", tiny_shards, "trainer.max_steps=1")
    train(tmp_path / "second", tiny_shards, "trainer.max_steps=0", f"init_weights={tmp_path}/first/export")
    first = load_file(tmp_path / "first" / "export" / "model.safetensors")
    second = load_file(tmp_path / "second" / "export" / "model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)
    # A setting that leaves the weights' shapes alone may change when fine-tuning (and is said)...
    result = train(
        tmp_path / "third",
        tiny_shards,
        "trainer.max_steps=0",
        "model.lit.net.codebook_update=loss",
        f"init_weights={tmp_path}/first/export",
    )
    assert "codebook_update ema -> loss" in result.stdout + result.stderr
    # ...one that changes them is refused in one line.
    result = run_module(
        "skysynth.train",
        *TINY_VQVAE,
        f"data.shards={tiny_shards}",
        f"hydra.run.dir={tmp_path}/fourth",
        "trainer.max_steps=0",
        "model.lit.net.codebook_size=32",
        f"init_weights={tmp_path}/first/export",
    )
    assert_one_line_error(result, "has another architecture")


def test_csv_metrics_logged(tiny_shards, tmp_path):
    train(tmp_path / "m", tiny_shards, "trainer.max_steps=10", "checkpoint_every_n_steps=5")
    text = (tmp_path / "m" / "csv" / "metrics.csv").read_text()
    assert "train/loss" in text and "val/codebook_usage" in text and "val/psnr" in text
    assert np.isfinite(float(text.strip().splitlines()[-1].split(",")[-1] or 0))
    # skysynth.export: the checkpoint's network equals the run's own export, and loads without Lightning.
    result = run_module("skysynth.export", f"ckpt={tmp_path}/m/checkpoints/last.ckpt", f"out={tmp_path}/exported")
    assert result.returncode == 0, result.stderr[-2000:]
    ours = load_file(tmp_path / "exported" / "model.safetensors")
    runs = load_file(tmp_path / "m" / "export" / "model.safetensors")
    assert ours.keys() == runs.keys() and all(torch.equal(ours[k], runs[k]) for k in ours)
    # Step checkpoints have names that Hydra overrides accept as they are.
    step_ckpt = tmp_path / "m" / "checkpoints" / "step0000005.ckpt"
    result = run_module("skysynth.export", f"ckpt={step_ckpt}", f"out={tmp_path}/exported_step5")
    assert result.returncode == 0, result.stderr[-2000:]
    from skysynth.models.vqvae import VQVAE

    tokens = VQVAE.from_pretrained(tmp_path / "exported").encode(torch.rand(1, 3, 32, 48))
    assert tokens.shape == (1, 8, 12)
    # Averaging checkpoints: every floating-point weight is the mean of the two.
    last_ckpt = tmp_path / "m" / "checkpoints" / "last.ckpt"
    for name, ckpt in (("a", step_ckpt), ("b", last_ckpt), ("ab", f"[{step_ckpt},{last_ckpt}]")):
        result = run_module("skysynth.export", f"ckpt={ckpt}", f"out={tmp_path}/avg_{name}", "fp16=false")
        assert result.returncode == 0, result.stderr[-2000:]
    a, b, ab = (load_file(tmp_path / f"avg_{n}" / "model.safetensors") for n in ("a", "b", "ab"))
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert all(torch.allclose(ab[k], (a[k] + b[k]) / 2, atol=1e-6) for k in a if a[k].is_floating_point())
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    result = run_module("skysynth.export", f"ckpt={tmp_path}/junk.ckpt", f"out={tmp_path}/junk_out")
    assert_one_line_error(result, "not a readable checkpoint")
    assert not (tmp_path / "junk_out").exists()


def test_default_wandb_logger_runs_offline(tiny_shards, tmp_path):
    """The default logger is wandb, offline: a run needs no network and leaves an offline run to sync."""
    args = [a for a in TINY_VQVAE if a != "logger=csv"]
    result = run_module(
        "skysynth.train", *args, f"data.shards={tiny_shards}", f"hydra.run.dir={tmp_path}/w", "trainer.max_steps=2"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((tmp_path / "w" / "wandb").glob("offline-run-*")), "no offline wandb run written"


def test_bf16_on_a_cpu_without_bf16_hardware_trains_in_fp32(caplog):
    from omegaconf import OmegaConf

    from skysynth.common.hardware import cpu_has_native_bf16
    from skysynth.train import trainer_settings

    assert cpu_has_native_bf16("flags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile\n")
    assert not cpu_has_native_bf16("flags\t\t: fpu sse avx avx2 fma\n")
    cpu_bf16 = OmegaConf.create({"accelerator": "cpu", "precision": "bf16-mixed", "max_steps": 3})
    assert trainer_settings(cpu_bf16, native_bf16=True)["precision"] == "bf16-mixed"
    with caplog.at_level("WARNING"):
        fp32 = trainer_settings(cpu_bf16, native_bf16=False)
    assert fp32 == {"accelerator": "cpu", "precision": "32-true", "max_steps": 3}
    assert "no bf16 hardware" in caplog.text
    gpu_bf16 = OmegaConf.create({"accelerator": "gpu", "precision": "bf16-mixed"})
    assert trainer_settings(gpu_bf16, native_bf16=False)["precision"] == "bf16-mixed"


def start_tiny_maskgit_from(tmp_path, tiny_shards, run: str, *settings: str):
    """A 0-step maskgit run from a saved 1-block tiny MaskGIT with `settings` changed; -> (output
    text, the start's weights, the run's exported weights)."""
    from tests.conftest import tiny_maskgit, tiny_vqvae

    tiny_vqvae().save_pretrained(tmp_path / "tokenizer")
    tiny_maskgit(local_mixing=False).save_pretrained(tmp_path / "start")
    net = ["codebook_size=16", "tokens_per_side=8", "hidden_size=32", "intermediate_size=64", "num_heads=2"]
    result = run_module(
        "skysynth.train",
        "model=maskgit",
        *[a for a in TINY_VQVAE if not a.startswith("model")],
        *[f"model.lit.net.{a}" for a in net],
        *settings,
        f"model.lit.tokenizer={tmp_path}/tokenizer",
        f"data.shards={tiny_shards}",
        f"hydra.run.dir={tmp_path}/{run}",
        "trainer.max_steps=0",
        f"init_weights={tmp_path}/start",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    before = load_file(tmp_path / "start" / "model.safetensors")
    return result.stdout + result.stderr, before, load_file(tmp_path / run / "export" / "model.safetensors")


def test_init_weights_grows_a_maskgit_to_more_blocks(tiny_shards, tmp_path):
    said, before, grown = start_tiny_maskgit_from(tmp_path, tiny_shards, "grown", "model.lit.net.num_layers=3")
    assert "from 1 to 3 blocks" in said
    assert all(torch.equal(before[k], grown[k]) for k in before)  # the trained block, as it was
    assert not grown["blocks.2.proj.weight"].any() and not grown["blocks.2.mlp.2.weight"].any()
    assert grown["blocks.2.qkv.weight"].any()  # the new block computes, its residual output starts at 0


def test_init_weights_adds_the_code_context_to_a_maskgit(tiny_shards, tmp_path):
    settings = ("model.lit.net.num_layers=1", "model.lit.net.context_codes=true")
    said, before, after = start_tiny_maskgit_from(tmp_path, tiny_shards, "with_context", *settings)
    assert "adding context_projection" in said
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert set(after) - set(before) == {"context_projection.weight"} and not after["context_projection.weight"].any()


@pytest.mark.parametrize("checkpointed", [False, True])
def test_ctrl_c_during_training_says_whether_there_is_something_to_resume(tiny_shards, tmp_path, checkpointed):
    import os
    import signal
    import subprocess
    import sys
    import time

    every = 2 if checkpointed else 100000
    steps = ["trainer.max_steps=100000", f"checkpoint_every_n_steps={every}", "data.train_samples_per_epoch=400"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "skysynth.train", *TINY_VQVAE, f"data.shards={tiny_shards}", *steps]
    process = subprocess.Popen(
        [*args, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background `make test` ignores it
    )
    deadline = time.monotonic() + 300
    ready = run_dir / "checkpoints" / "step0000002.ckpt" if checkpointed else run_dir / "csv"
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline, "training ended before it could be interrupted"
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=120)[1].decode()
    assert process.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    if checkpointed:
        assert last == f"interrupted: resume with hydra.run.dir={run_dir} ckpt_path=last"
    else:
        assert last == "interrupted before the first checkpoint: there is nothing to resume"


def test_decoder_only_keeps_encoder_and_codebook_and_trains_the_decoder(tiny_shards, tmp_path):
    train(tmp_path / "first", tiny_shards, "trainer.max_steps=1")
    train(
        tmp_path / "decoder",
        tiny_shards,
        "trainer.max_steps=3",
        f"init_weights={tmp_path}/first/export",
        "model.lit.decoder_only=true",
        "model.lit.adversarial.weight=0.1",
        "model.lit.adversarial.start_step=1",
    )
    before = load_file(tmp_path / "first" / "export" / "model.safetensors")
    after = load_file(tmp_path / "decoder" / "export" / "model.safetensors")
    frozen = [k for k in before if k.startswith(("encoder.", "quantizer."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))


def test_decoder_only_refuses_a_kmeans_codebook():
    from skysynth.lit.vqvae import VQVAELit

    net = {"base_channels": 8, "embed_dim": 8, "codebook_size": 16}
    with pytest.raises(ValueError, match="decoder_only keeps the codebook"):
        VQVAELit(net=net, optim={"lr": 1e-3}, kmeans_init=True, decoder_only=True)
    assert VQVAELit(net=net, optim={"lr": 1e-3}, decoder_only=True).hparams.decoder_only
