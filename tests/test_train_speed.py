"""The speed work keeps what is learned: the lean loss equals TRL's, buckets cover every row,
and the training benchmark runs end to end on the tiny model (it prints numbers; nothing is timed).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from studio.engine.train.speed import length_buckets, selected_cross_entropy

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("train_speed", ROOT / "benchmarks" /
                                                  "train_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_length_buckets_cover_every_row_once():
    lengths = [300, 20, 25, 310, 22, 290, 24, 30]
    groups = length_buckets(lengths, overhead=64)
    assert sorted(i for g in groups for i in g) == list(range(8))
    assert len(groups) == 2  # long rows apart from short ones
    assert length_buckets([50] * 8, overhead=64) == [list(range(8))]
    assert len(length_buckets(lengths, overhead=10**6)) == 1  # splitting never pays


def test_selected_cross_entropy_matches_autograd():
    torch.manual_seed(0)
    hidden = torch.randn(700, 16, requires_grad=True)  # more rows than one chunk
    weight = torch.randn(50, 16, requires_grad=True)
    targets = torch.randint(0, 50, (700,))
    ours = selected_cross_entropy(hidden, weight, targets, torch.float32)
    ours.backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    ref = torch.nn.functional.cross_entropy(hidden @ weight.t(), targets, reduction="sum")
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    assert torch.allclose(grads[0], hidden.grad, atol=1e-5)
    assert torch.allclose(grads[1], weight.grad, atol=1e-4)


@pytest.mark.parametrize("finetuning_type", ["lora", "full"])
def test_studio_loss_and_gradients_equal_trl(tiny_config, finetuning_type):
    import dataclasses

    from trl import SFTConfig

    from studio.engine.models import load_tokenizer
    from studio.engine.train.prepare import prepare_model, prepare_sft_data
    from studio.engine.train.sft import build_sft_trainer

    cfg = dataclasses.replace(tiny_config, finetuning_type=finetuning_type)
    tokenizer = load_tokenizer(cfg.model)
    data = prepare_sft_data(cfg, tokenizer, cfg.dataset)
    model = prepare_model(cfg)
    args = SFTConfig(output_dir="unused", bf16=False, use_cpu=True, report_to=[],
                     gradient_checkpointing=False, per_device_train_batch_size=8)
    trainer = build_sft_trainer(model, args, tokenizer, data.train, [], [])
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(8)])
    results = []
    for lean in (False, True):
        trainer.speed.selected_loss = lean
        model.zero_grad()
        loss = trainer.compute_loss(model, dict(batch))
        loss.backward()
        results.append((loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()
                                      if p.grad is not None}))
    (trl_loss, trl_grads), (loss, grads) = results
    assert loss == pytest.approx(trl_loss, rel=1e-5)
    assert grads.keys() == trl_grads.keys()
    for name, grad in grads.items():
        assert torch.allclose(grad, trl_grads[name], rtol=1e-4, atol=1e-6), name


def test_benchmark_runs_on_the_tiny_model(tiny_model_dir, capsys):
    rows = _benchmark().main(["--model", str(tiny_model_dir), "--steps", "2", "--batch-size", "2",
                              "--workloads", "identity", "--methods", "lora", "--in-process"])
    assert {(r["method"], r["way"]) for r in rows} == {("lora", "trl"), ("lora", "studio")}
    for row in rows:
        assert row["tokens_per_s"] > 0 and row["tflops"] > 0 and row["peak_gib"] > 0
        assert math.isfinite(row["final_loss"]) and row["ratio"] > 0
    out = capsys.readouterr().out
    assert "| identity | lora | studio |" in out and "bf16 matmul peak" in out
