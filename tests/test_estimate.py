"""The Train tab's trainable-parameter estimate against the real count of the prepared model.

``estimate.trainable_params`` works from the model's shape alone (built on the meta device); the
truth is what ``prepare.prepare_model`` really leaves trainable, counted by PEFT
(``get_nb_trainable_parameters``) and by summing the parameters that require a gradient. LoRA
and full fine-tuning must agree exactly: a LoRA adapter on a Linear(in, out) is A (rank x in)
plus B (out x rank), nothing approximated. Freeze is the one approximation (see below).
"""

from __future__ import annotations

import dataclasses

import pytest

from studio.engine.train import estimate as E
from studio.engine.train.config import TrainConfig
from studio.engine.train.prepare import prepare_model


@pytest.fixture()
def cfg(tiny_model_dir) -> TrainConfig:
    return TrainConfig(model=str(tiny_model_dir), dtype="float32")


def requires_grad(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_the_shape_counts_the_real_model(cfg):
    shape = E.model_shape(cfg.model)
    model = prepare_model(dataclasses.replace(cfg, finetuning_type="full"))
    assert shape["params"] == sum(p.numel() for p in model.parameters())  # tied head counted once
    assert (shape["layers"], shape["hidden"]) == (2, 64)
    assert len(shape["linear"]) == 14  # q, k, v, o, gate, up, down in 2 layers; no lm_head


@pytest.mark.parametrize("target,rank", [("all-linear", 16), ("q_proj,v_proj", 8),
                                         ("gate_proj, down_proj", 4)])
def test_lora_estimate_equals_peft(cfg, target, rank):
    cfg = dataclasses.replace(cfg, finetuning_type="lora", lora_target=target, lora_rank=rank)
    model = prepare_model(cfg)
    trainable, _ = model.get_nb_trainable_parameters()
    assert trainable == requires_grad(model) > 0
    assert E.trainable_params(cfg, E.model_shape(cfg.model)) == trainable


def test_full_estimate_is_every_parameter(cfg):
    cfg = dataclasses.replace(cfg, finetuning_type="full")
    model = prepare_model(cfg)
    assert requires_grad(model) == sum(p.numel() for p in model.parameters())
    assert E.trainable_params(cfg, E.model_shape(cfg.model)) == requires_grad(model)


def test_freeze_estimate_never_undercounts(cfg):
    # The estimate spreads *all* parameters, embeddings included, evenly over the layers, while
    # freeze trains only the last layers' own weights. It may overcount (memory is then
    # over-estimated, the safe side) but must lie between the real count and the whole model.
    cfg = dataclasses.replace(cfg, finetuning_type="freeze", freeze_trainable_layers=1)
    real = requires_grad(prepare_model(cfg))
    shape = E.model_shape(cfg.model)
    assert 0 < real <= E.trainable_params(cfg, shape) < shape["params"]


def test_freeze_estimate_counts_only_the_trained_layers(cfg):
    cfg = dataclasses.replace(cfg, finetuning_type="freeze", freeze_trainable_layers=1)
    real = requires_grad(prepare_model(cfg))
    assert E.trainable_params(cfg, E.model_shape(cfg.model)) == real


def test_the_estimate_the_page_shows_uses_the_same_counts(cfg):
    from studio.engine.workspace import ASSETS

    cfg = dataclasses.replace(cfg, finetuning_type="lora", lora_target="q_proj,v_proj",
                              lora_rank=8, max_steps=5)
    shown = E.estimate(cfg, str(ASSETS / "identity.json"))
    model = prepare_model(cfg)
    assert shown["trainable"] == model.get_nb_trainable_parameters()[0]
    assert shown["params"] == E.model_shape(cfg.model)["params"]
    assert shown["steps"] == 5 and shown["memory_gb"] > 0 and shown["seconds"] > 0
