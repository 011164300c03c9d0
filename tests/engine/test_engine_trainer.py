"""End-to-end tests of the Trainer on toy models (CPU, a few seconds in total)."""

from __future__ import annotations

import json

import pytest
import torch
from engine_toys import (
    ConvSolver,
    ImageSet,
    MLPSolver,
    RegressionSet,
    RegressionSource,
    SimulatedKill,
    flat_params,
)

from mrisynth.config.schema import ConfigError, from_dict
from mrisynth.engine import (
    CheckpointError,
    NullTracker,
    TrainConfig,
    Trainer,
    TrainingDivergedError,
    latest_checkpoint,
    load_checkpoint,
)
from mrisynth.engine.checkpoint import list_checkpoints


def _cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(
        max_steps=20,
        batch_size=8,
        out_dir=str(tmp_path),
        device="cpu",
        seed=3,
        log_interval=5,
        ckpt_interval=5,
        eval_interval=10,
        warmup_steps=3,
        progress=False,
        keep_last=5,
    )
    base.update(kw)
    return TrainConfig(**base)


def _opt_state_diff(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> float:
    sa, sb = a.state_dict()["state"], b.state_dict()["state"]
    assert sa.keys() == sb.keys()
    diff = 0.0
    for k in sa:
        assert sa[k].keys() == sb[k].keys()
        for name in sa[k]:
            diff = max(diff, (sa[k][name].float() - sb[k][name].float()).abs().max().item())
    return diff


def test_kill_and_resume_matches_uninterrupted_run(tmp_path):
    data, valid = RegressionSet(64), RegressionSet(16, seed=9)
    torch.manual_seed(1)
    straight = MLPSolver()
    Trainer(_cfg(tmp_path / "a"), straight).fit(data, valid)

    torch.manual_seed(1)  # the first process builds the same initial model...
    crashed = MLPSolver(kill_at=13)  # dies after the step-10 checkpoint, steps 11-12 are lost
    with pytest.raises(SimulatedKill):
        Trainer(_cfg(tmp_path / "b"), crashed).fit(data, valid)
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [5, 10]

    torch.manual_seed(456)  # ...the resumed one other weights, replaced by the checkpoint
    resumed = MLPSolver()
    trainer = Trainer(_cfg(tmp_path / "b"), resumed)
    trainer.fit(data, valid)
    assert trainer.step == 20
    assert len(resumed.seen) == 10  # only steps 11..20 ran in the new process
    assert resumed.seen == straight.seen[10:]  # same batches as the uninterrupted run

    param_diff = (flat_params(straight) - flat_params(resumed)).abs().max().item()
    opt_diff = _opt_state_diff(straight.opt, resumed.opt)
    print(f"resume max |diff|: params {param_diff:.3g}, optimizer state {opt_diff:.3g}")
    assert param_diff <= 1e-6 and opt_diff <= 1e-6
    assert int(resumed.updates) == int(straight.updates) == 20  # solver extra state restored

    # metrics.jsonl: the records of lost steps were dropped, not duplicated
    rec_a, rec_b = _records(tmp_path / "a"), _records(tmp_path / "b")
    assert [r["step"] for r in rec_a] == [r["step"] for r in rec_b] == [5, 10, 10, 15, 20, 20]
    for ra, rb in zip(rec_a, rec_b):
        assert ra.keys() == rb.keys()
        for k, v in ra.items():
            assert rb[k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
    # timings live apart, one record per log step
    for run in ("a", "b"):
        timing = _records(tmp_path / run, "timing.jsonl")
        assert [r["step"] for r in timing] == [5, 10, 15, 20]
        assert all(set(r) == {"step", "time/step_s"} for r in timing)


def _records(out_dir, name: str = "metrics.jsonl") -> list[dict]:
    return [json.loads(ln) for ln in (out_dir / name).read_text().splitlines()]


def _files(out_dir) -> dict[str, bytes]:
    return {str(p.relative_to(out_dir)): p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}


def test_resume_drops_later_records_of_both_logs(tmp_path):
    data = RegressionSet(64)
    cfg = dict(max_steps=12, log_interval=2, ckpt_interval=5, eval_interval=100)
    Trainer(_cfg(tmp_path / "a", **cfg), MLPSolver()).fit(data)
    with pytest.raises(SimulatedKill):  # logged steps 2..8, last checkpoint at step 5
        Trainer(_cfg(tmp_path / "b", **cfg), MLPSolver(kill_at=9)).fit(data)
    assert [r["step"] for r in _records(tmp_path / "b", "timing.jsonl")] == [2, 4, 6, 8]
    Trainer(_cfg(tmp_path / "b", **cfg), MLPSolver()).fit(data)
    for name in ("metrics.jsonl", "timing.jsonl"):
        steps = [r["step"] for r in _records(tmp_path / "b", name)]
        assert steps == [r["step"] for r in _records(tmp_path / "a", name)], name
        assert steps == [2, 4, 6, 8, 10, 12], name


def test_identical_runs_write_identical_files_apart_from_timings(tmp_path):
    # What DVC hashes: two runs of one config into one folder give the same bytes, except
    # timing.jsonl (wall-clock step times).
    def run(keep_as: str) -> dict[str, bytes]:
        torch.manual_seed(0)
        cfg = _cfg(tmp_path / "run", keep_last=2, best_metric="valid/loss")
        Trainer(cfg, MLPSolver()).fit(RegressionSet(), RegressionSet(16, seed=9))
        files = _files(tmp_path / "run")
        (tmp_path / "run").rename(tmp_path / keep_as)  # the next run writes the same out_dir
        return files

    runs = [run("first"), run("second")]
    assert runs[0].keys() == runs[1].keys()
    assert {"metrics.jsonl", "timing.jsonl", "best.pt"} <= set(runs[0])
    differ = sorted(k for k in runs[0] if runs[0][k] != runs[1][k])
    assert differ in ([], ["timing.jsonl"])


def test_training_reduces_loss_and_writes_metrics(tmp_path):
    solver = MLPSolver(lr=0.05, dropout=0.0)
    out = Trainer(
        _cfg(tmp_path, max_steps=60, log_interval=10, eval_interval=30, best_metric="valid/loss"),
        solver,
    ).fit(RegressionSet(), RegressionSet(16, 1))
    records = _records(tmp_path)
    train = [r for r in records if "train/loss" in r]
    assert [r["step"] for r in train] == [10, 20, 30, 40, 50, 60]
    assert train[-1]["train/loss"] < 0.2 * train[0]["train/loss"]
    assert {"lr", "train/grad_norm", "train/mae"} <= set(train[0])
    assert not any(k.startswith("time/") for r in records for k in r)  # in timing.jsonl
    timing = _records(tmp_path, "timing.jsonl")
    assert [r["step"] for r in timing] == [10, 20, 30, 40, 50, 60]
    assert all(r["time/step_s"] > 0 for r in timing)
    assert out["time/step_s"] == timing[-1]["time/step_s"]  # still returned
    assert out["valid/loss"] == records[-1]["valid/loss"]
    # warmup then cosine to min_lr_ratio * lr at max_steps
    assert train[-1]["lr"] == pytest.approx(0.1 * 0.05, rel=0.05)
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best"] == pytest.approx(min(r["valid/loss"] for r in records if "valid/loss" in r))
    # keep_last=5 rotation; 60/5 = 12 checkpoints were written
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [40, 45, 50, 55, 60]
    # a finished run resumes as a no-op
    again = MLPSolver()
    Trainer(_cfg(tmp_path, max_steps=60), again).fit(RegressionSet())
    assert again.calls == 0 and torch.equal(flat_params(again), flat_params(solver))


def test_evaluation_does_not_change_the_training_trajectory(tmp_path):
    with_eval, without = MLPSolver(), MLPSolver()
    without.net.load_state_dict(with_eval.net.state_dict())
    Trainer(_cfg(tmp_path / "a", eval_interval=3), with_eval).fit(RegressionSet(), RegressionSet(8))
    Trainer(_cfg(tmp_path / "b"), without).fit(RegressionSet())
    assert torch.equal(flat_params(with_eval), flat_params(without))


def test_bf16_autocast_on_cpu(tmp_path):
    solver = MLPSolver(lr=0.05, dropout=0.0, noise=False)
    Trainer(_cfg(tmp_path, precision="bf16", max_steps=40, log_interval=10), solver).fit(
        RegressionSet()
    )
    assert set(solver.out_dtypes) == {torch.bfloat16}  # forward ran under autocast
    assert all(p.dtype == torch.float32 for p in solver.net.parameters())  # master weights fp32
    losses = [json.loads(ln)["train/loss"] for ln in (tmp_path / "metrics.jsonl").open()]
    assert losses[-1] < 0.2 * losses[0]


def test_fp16_uses_grad_scaler(tmp_path):
    solver = MLPSolver(dropout=0.0, noise=False)
    trainer = Trainer(_cfg(tmp_path, precision="fp16", max_steps=10), solver)
    trainer.fit(RegressionSet())
    assert trainer.scaler.is_enabled() and set(solver.out_dtypes) == {torch.float16}
    state = load_checkpoint(latest_checkpoint(tmp_path / "checkpoints"))
    assert state["scaler"]["scale"] > 0
    rec = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert rec["grad_scale"] > 0 and rec["train/loss"] == rec["train/loss"]


def test_channels_last_conv(tmp_path):
    solver = ConvSolver()
    Trainer(_cfg(tmp_path, channels_last=True, max_steps=30, log_interval=10), solver).fit(
        ImageSet()
    )
    assert all(solver.input_channels_last)
    w = solver.net[0].weight  # (8, 2, 3, 3)
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    losses = [json.loads(ln)["train/loss"] for ln in (tmp_path / "metrics.jsonl").open()]
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(("log_interval", "nan_at"), [(4, 7), (100, 8)])
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, log_interval, nan_at):
    solver = MLPSolver(nan_at=nan_at)
    with pytest.raises(TrainingDivergedError) as err:
        Trainer(_cfg(tmp_path, log_interval=log_interval), solver).fit(RegressionSet())
    msg = str(err.value)
    assert f"'train/loss' (first at step {nan_at})" in msg and "step_00000005.pt" in msg
    assert err.value.step == nan_at and "loss" in err.value.metrics
    assert not torch.isfinite(flat_params(solver)).all()  # weights really diverged...
    ckpts = list_checkpoints(tmp_path / "checkpoints")
    assert [s for s, _ in ckpts] == [5]  # ...but were never written
    state = load_checkpoint(ckpts[-1][1])
    assert all(torch.isfinite(v).all() for v in state["models"]["net"].values())


def test_freeze_excludes_parameters_from_optimiser(tmp_path):
    solver = MLPSolver()
    before = {k: v.clone() for k, v in solver.net.state_dict().items()}
    trainer = Trainer(_cfg(tmp_path, freeze=["net.0"], max_steps=5), solver)
    trainer.fit(RegressionSet())
    after = solver.net.state_dict()
    assert torch.equal(after["0.weight"], before["0.weight"])
    assert torch.equal(after["0.bias"], before["0.bias"])
    assert not torch.equal(after["3.weight"], before["3.weight"])
    in_opt = {id(p) for g in solver.opt.param_groups for p in g["params"]}
    assert id(solver.net[0].weight) not in in_opt and id(solver.net[3].weight) in in_opt
    with pytest.raises(ValueError, match="prefix 'net.9' matches no parameter"):
        Trainer(_cfg(tmp_path / "x", freeze=["net.9"]), MLPSolver())


def test_init_from_loads_weights_and_names_shape_mismatch(tmp_path):
    src = MLPSolver()
    Trainer(_cfg(tmp_path / "pre", max_steps=5), src).fit(RegressionSet())
    ckpt = latest_checkpoint(tmp_path / "pre" / "checkpoints")

    dst = MLPSolver()
    Trainer(_cfg(tmp_path / "ft", init_from=str(ckpt), max_steps=5), dst)
    assert torch.equal(flat_params(dst), flat_params(src))

    plain = tmp_path / "plain.pt"
    torch.save(src.net.state_dict(), plain)
    dst2 = MLPSolver()
    Trainer(_cfg(tmp_path / "ft2"), dst2).init_from(plain)
    assert torch.equal(flat_params(dst2), flat_params(src))

    wide = MLPSolver()
    wide.net[3] = torch.nn.Linear(16, 2)
    wide.opt = torch.optim.AdamW(wide.net.parameters())
    with pytest.raises(ValueError, match=r"'3.weight': checkpoint \(1, 16\) vs model \(2, 16\)"):
        Trainer(_cfg(tmp_path / "ft3"), wide).init_from(ckpt)
    with pytest.raises(CheckpointError, match="missing.pt: file not found"):
        Trainer(_cfg(tmp_path / "ft4"), MLPSolver()).init_from(tmp_path / "missing.pt")


def test_iterable_data_is_fast_forwarded_on_resume(tmp_path):
    g = torch.Generator().manual_seed(0)
    batches = [
        {
            "x": torch.randn(8, 4, generator=g),
            "y": torch.randn(8, 1, generator=g),
            "index": torch.arange(8) + 8 * i,
        }
        for i in range(3)
    ]
    torch.manual_seed(0)
    straight = MLPSolver(noise=False, dropout=0.0)
    Trainer(_cfg(tmp_path / "a", max_steps=10), straight).fit(batches)
    torch.manual_seed(0)
    first = MLPSolver(noise=False, dropout=0.0)
    Trainer(_cfg(tmp_path / "b", max_steps=10), first).fit(batches, until_step=5)
    second = MLPSolver(noise=False, dropout=0.0)
    Trainer(_cfg(tmp_path / "b", max_steps=10), second).fit(batches)
    assert second.seen == straight.seen[5:]
    assert (flat_params(second) - flat_params(straight)).abs().max() <= 1e-6


def test_indexed_batch_source_resumes_exactly_and_validates_the_same_batches(tmp_path):
    torch.manual_seed(1)
    straight = MLPSolver(noise=False)
    valid = RegressionSource(16, seed=9)
    Trainer(_cfg(tmp_path / "a"), straight).fit(RegressionSource(64), valid)
    # every evaluation (steps 10 and 20) asked for the same validation batches and seeds
    assert len(valid.seeds) == 4 and valid.seeds[:2] == valid.seeds[2:]

    torch.manual_seed(1)
    crashed = MLPSolver(noise=False, kill_at=13)
    with pytest.raises(SimulatedKill):
        Trainer(_cfg(tmp_path / "b"), crashed).fit(RegressionSource(64), valid)
    resumed = MLPSolver(noise=False)
    source = RegressionSource(64)
    Trainer(_cfg(tmp_path / "b"), resumed).fit(source, valid)
    assert resumed.seen == straight.seen[10:]
    assert len(source.seeds) == 10 and len(set(source.seeds)) == 10  # one seed per step
    assert (flat_params(straight) - flat_params(resumed)).abs().max().item() <= 1e-6


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        TrainConfig(max_steps=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="fp8")
    with pytest.raises(ConfigError, match="train.max_step: unknown key"):
        from_dict(TrainConfig, {"max_step": 3}, where="train")
    assert from_dict(TrainConfig, {"freeze": ["gen.enc"], "grad_clip": 0}).freeze == ["gen.enc"]


def test_run_step_must_return_scalar_tensors(tmp_path):
    class Bad(MLPSolver):
        def run_step(self, batch, train):
            out = super().run_step(batch, train)
            return {"loss": out["loss"].item()}

    with pytest.raises(TypeError, match="'loss' is float"):
        Trainer(_cfg(tmp_path), Bad()).fit(RegressionSet())


def test_metrics_reach_the_tracker(tmp_path):
    class Recorder(NullTracker):
        def __init__(self):
            self.calls = []

        def log_metrics(self, metrics, step):
            self.calls.append((step, dict(metrics)))

    rec = Recorder()
    Trainer(_cfg(tmp_path, max_steps=10), MLPSolver(), tracker=rec).fit(
        RegressionSet(), RegressionSet(8)
    )
    assert [s for s, _ in rec.calls] == [5, 10, 10]
    assert "train/loss" in rec.calls[0][1] and "valid/loss" in rec.calls[2][1]
    assert "time/step_s" in rec.calls[0][1]  # timings reach the tracker (not metrics.jsonl)
    assert all(isinstance(v, float) for _, m in rec.calls for v in m.values())


@pytest.mark.slow
def test_compile_wraps_models_and_saves_plain_keys(tmp_path):  # ~20 s of inductor compile
    torch.manual_seed(0)
    eager = MLPSolver(dropout=0.0, noise=False)
    torch.manual_seed(0)
    compiled = MLPSolver(dropout=0.0, noise=False)
    Trainer(_cfg(tmp_path / "e", max_steps=6), eager).fit(RegressionSet())
    Trainer(_cfg(tmp_path / "c", max_steps=6, compile=True), compiled).fit(RegressionSet())
    assert type(compiled.net).__name__ == "OptimizedModule"
    state = load_checkpoint(latest_checkpoint(tmp_path / "c" / "checkpoints"))
    assert sorted(state["models"]["net"]) == ["0.bias", "0.weight", "3.bias", "3.weight"]
    assert (flat_params(eager) - flat_params(compiled)).abs().max() < 1e-4
