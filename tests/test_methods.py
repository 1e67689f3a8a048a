"""Every preference method and GRPO trains the tiny model from a config, as the form and the CLI
start it: a few steps, its own metrics in the run folder, and the trainable weights moved."""

import dataclasses
import json
import threading

import pytest

from studio.engine.errors import ConfigError
from studio.engine.runs import RunStore
from studio.engine.train.job import run_training
from tests.training import assert_every_lora_tensor_trained, lora_tensors

LORA_MODULES = 14  # all-linear on the tiny model: 7 projections in each of 2 layers
QUESTIONS = ["Who are you?", "What is your name?", "Who made you?", "你是谁？",
             "Tell me about yourself.", "What can you do?"]


def _pairs(path):
    rows = [{"prompt": q, "chosen": "I am Nova, made by Acme Lab.",
             "rejected": "I am an AI language model."} for q in QUESTIONS]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def _labelled(path):
    rows = [{"messages": [{"role": "user", "content": q},
                          {"role": "assistant", "content": a}], "label": good}
            for q in QUESTIONS for a, good in (("I am Nova.", True), ("I am ChatGPT.", False))]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def _config(tiny_config, dataset, **changes):
    small = {"max_steps": 2, "batch_size": 2, "probe_steps": 0, "save_steps": 1,
             "max_length": 64, "probe_prompts": []}
    return dataclasses.replace(tiny_config, dataset=str(dataset), **{**small, **changes})


def _trained(tmp_path, cfg):
    run = RunStore(tmp_path / "runs").create(cfg)
    assert run_training(run) == "completed", run.status()
    return run


PAIR_CASES = {"dpo-sigmoid": ("dpo", {"dpo_loss": "sigmoid"}),
              "dpo-ipo": ("dpo", {"dpo_loss": "ipo"}),
              "dpo-hinge": ("dpo", {"dpo_loss": "hinge"}),
              "dpo-rpo": ("dpo", {"dpo_sft_weight": 1.0}),  # DPO plus NLL on the chosen
              "orpo": ("orpo", {}), "simpo": ("simpo", {"dpo_beta": 2.0})}


@pytest.mark.parametrize(("method", "extra"), PAIR_CASES.values(), ids=PAIR_CASES.keys())
def test_pair_methods_train_lora_and_log_their_rewards(tmp_path, tiny_config, method, extra):
    run = _trained(tmp_path, _config(tiny_config, _pairs(tmp_path / "pairs.json"),
                                     method=method, **extra))
    rows = [m for m in run.metrics() if "loss" in m]
    assert [m["step"] for m in rows] == [1, 2]
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert all(isinstance(m.get(key), float) for m in rows), (key, rows)
    assert_every_lora_tensor_trained(run.checkpoints_dir / "checkpoint-1", run.adapter_dir,
                                     LORA_MODULES)


def test_kto_trains_on_labelled_answers_and_on_split_pairs(tmp_path, tiny_config):
    for name, data in (("labelled", _labelled(tmp_path / "kto.json")),
                       ("pairs", _pairs(tmp_path / "pairs.json"))):
        run = _trained(tmp_path / name, _config(tiny_config, data, method="kto", batch_size=4))
        rows = [m for m in run.metrics() if "loss" in m]
        assert [m["step"] for m in rows] == [1, 2], name
        assert all("kl" in m for m in rows), rows
        assert any("rewards/chosen" in m and "rewards/rejected" in m for m in rows), rows
        assert_every_lora_tensor_trained(run.checkpoints_dir / "checkpoint-1",
                                         run.adapter_dir, LORA_MODULES)


def test_kto_refuses_data_with_only_good_answers(tmp_path, tiny_config):
    good = [{"messages": [{"role": "user", "content": q},
                          {"role": "assistant", "content": "Hi"}], "label": True}
            for q in QUESTIONS]
    (tmp_path / "good.json").write_text(json.dumps(good))
    run = RunStore(tmp_path / "runs").create(_config(tiny_config, tmp_path / "good.json",
                                                     method="kto"))
    assert run_training(run) == "failed"
    assert "labelled both good and bad" in run.status()["error"]


def test_orpo_trains_full_weights(tmp_path, tiny_config):
    from safetensors.torch import load_file

    run = _trained(tmp_path, _config(tiny_config, _pairs(tmp_path / "pairs.json"),
                                     method="orpo", finetuning_type="full"))
    final = load_file(run.model_dir / "model.safetensors")
    step1 = load_file(run.checkpoints_dir / "checkpoint-1" / "model.safetensors")
    moved = [k for k in final if not (final[k] == step1[k]).all()]
    assert len(moved) > len(final) // 2, f"only {len(moved)} of {len(final)} tensors moved"


def test_lora_reference_is_the_policy_with_its_adapter_off(tmp_path, tiny_config):
    from peft import PeftModel

    from studio.engine.train.preference import train_preference

    cfg = _config(tiny_config, _pairs(tmp_path / "pairs.json"), method="dpo", max_steps=1)
    run = RunStore(tmp_path / "runs").create(cfg)
    trainer, _ = train_preference(cfg, run, threading.Event(), cfg.dataset, None)
    assert trainer.ref_model is None  # no second model in memory
    assert isinstance(trainer.model, PeftModel)
    assert list(trainer.model.peft_config) == ["default"]  # and no copy of the adapter


def test_grpo_trains_on_reward_rules_and_writes_rollouts(tmp_path, tiny_config):
    cfg = _config(tiny_config, tiny_config.dataset, method="grpo", batch_size=2,
                  grpo_generations=2, grpo_max_completion=8, probe_steps=1,
                  probe_prompts=["Who are you?"], reward_length_words=4,
                  reward_length_weight=1.0, reward_include="Nova", reward_words_weight=0.5)
    run = _trained(tmp_path, cfg)
    rows = [m for m in run.metrics() if "loss" in m]
    assert [m["step"] for m in rows] == [1, 2]
    for key in ("reward", "reward_std", "rewards/length/mean", "rewards/words/mean", "kl",
                "completions/mean_length"):
        assert all(key in m for m in rows), (key, rows)
    rollouts = [json.loads(line) for line in (run.path / "rollouts.jsonl").read_text()
                .splitlines()]
    assert [r["step"] for r in rollouts] == [1, 2]
    assert all(isinstance(x["reward"], float) and "answer" in x for x in rollouts[0]["rollouts"])
    assert_every_lora_tensor_trained(run.checkpoints_dir / "checkpoint-1", run.adapter_dir,
                                     LORA_MODULES)


def test_dpo_continues_a_finished_sft_runs_adapter(tmp_path, tiny_config):
    sft = _trained(tmp_path, dataclasses.replace(tiny_config, max_steps=2, probe_steps=0,
                                                 save_steps=2, probe_prompts=[]))
    cfg = _config(tiny_config, _pairs(tmp_path / "pairs.json"), method="dpo",
                  start_from=sft.id)
    dpo = _trained(tmp_path, cfg)
    assert "starting from" in dpo.log_path.read_text()
    started, final = lora_tensors(sft.adapter_dir), lora_tensors(dpo.adapter_dir)
    assert set(started) == set(final)  # the same adapter, continued: not a new one
    moved = [k for k in final if not (final[k] == started[k]).all()]
    assert len(moved) == len(final)
    assert not (dpo.adapter_dir / "ref").exists()  # TRL's frozen reference copy is not saved


def test_start_from_refuses_a_run_on_another_model_or_without_adapter(tmp_path, tiny_config):
    from studio.engine.train.start import start_adapter

    store = RunStore(tmp_path / "runs")
    unfinished = store.create(tiny_config)
    with pytest.raises(ConfigError, match="no finished LoRA adapter"):
        start_adapter(dataclasses.replace(tiny_config, start_from=unfinished.id), store)
    sft = _trained(tmp_path, dataclasses.replace(tiny_config, max_steps=1, probe_steps=0,
                                                 save_steps=1, probe_prompts=[]))
    other = dataclasses.replace(tiny_config, start_from=sft.id, model="smollm2-135m-instruct")
    with pytest.raises(ConfigError, match="set the model to"):
        start_adapter(other, store)
