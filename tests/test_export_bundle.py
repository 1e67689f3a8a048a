"""The pieces around a finished run's export: the adapter zip, the model card, the merged folder's
card and outputs, and the disk-space check that refuses before anything is written."""

from __future__ import annotations

import ast
import collections
import dataclasses
import shutil
import time
import zipfile

import pytest
import torch
import yaml
from peft import PeftModel
from transformers import AutoTokenizer

from studio.engine.errors import ExportError, RunStateError
from studio.engine.export.bundle import adapter_zip
from studio.engine.export.card import BUNDLED_HUB_ID, model_card
from studio.engine.export.merge import export_run
from studio.engine.export.space import (
    check_free_space,
    human_size,
    merged_size,
    space_needed,
)
from studio.engine.models import load_model
from studio.engine.runs import RunStore
from studio.engine.scoring.results import save_result
from studio.engine.train.config import TrainConfig
from studio.engine.train.job import run_training
from tests.conftest import ROOT

ADAPTER_FILES = ["README.md", "adapter_config.json", "adapter_model.safetensors",
                 "chat_template.jinja", "tokenizer.json", "tokenizer_config.json"]
IDS = torch.tensor([[1, 5, 9, 12, 40]])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    """One finished LoRA run for the whole module: the tiny config of conftest, with held-out
    rows (so there is an eval loss) and a learning rate high enough that greedy answers change."""
    cfg = TrainConfig(model=str(tiny_model_dir), dataset=str(ROOT / "assets" / "identity.json"),
                      name="Nova", author="Acme Lab", max_steps=4, batch_size=4,
                      learning_rate=5e-2, save_steps=4, probe_steps=0, max_length=128,
                      probe_prompts=["Who are you?"], dtype="float32", val_fraction=0.2,
                      eval_steps=4)
    run = RunStore(tmp_path_factory.mktemp("runs")).create(cfg)
    assert run_training(run) == "completed"
    return run


def split_card(card: str) -> tuple[dict, str]:
    assert card.startswith("---\n")
    front, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


def scoring_result() -> dict:
    """A result shaped like ``scoring.evaluate`` returns it (two subjects, two categories)."""
    subjects = {
        "physics": {"name": "Physics", "category": "STEM", "n": 4, "correct": 2, "acc": 0.5,
                    "indices": [0, 1, 2, 3], "answers": list("ABCD"),
                    "predictions": list("ABAA"), "logprobs": [[-1.0] * 4] * 4},
        "history": {"name": "History", "category": "Humanities", "n": 4, "correct": 3,
                    "acc": 0.75, "indices": [0, 1, 2, 3], "answers": list("ABCD"),
                    "predictions": list("ABCA"), "logprobs": [[-1.0] * 4] * 4},
    }
    return {"benchmark": "ceval", "split": "val", "stopped": False, "subjects": subjects,
            "categories": {"STEM": {"n": 4, "correct": 2, "subjects": 1, "acc": 0.5},
                           "Humanities": {"n": 4, "correct": 3, "subjects": 1, "acc": 0.75}},
            "overall": {"n": 8, "correct": 5, "acc": 0.625, "macro_acc": 0.625, "subjects": 2},
            "shots": 5, "format": "plain", "limit": None, "data_dir": "hub", "elapsed_s": 1.0,
            "created_at": time.time(), "dtype": "float32", "label": "tuned", "model": "tiny",
            "adapter": "run"}


def lora_logits(model_dir, adapter_dir) -> torch.Tensor:
    with torch.no_grad():
        return PeftModel.from_pretrained(load_model(str(model_dir)), str(adapter_dir)).eval()(
            IDS).logits


# --- the adapter zip

def test_adapter_zip_holds_the_adapter_and_card_and_loads_back_with_peft(trained, tmp_path,
                                                                        tiny_model_dir):
    out = adapter_zip(trained, tmp_path / "nova-adapter.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nova-adapter.zip"]  # no temp file
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == [f"nova-adapter/{n}" for n in ADAPTER_FILES]
        card = zf.read("nova-adapter/README.md").decode()
        zf.extractall(tmp_path / "unzipped")
    assert card == model_card(trained)  # the studio's card, not the generic one PEFT writes
    folder = tmp_path / "unzipped" / "nova-adapter"
    with torch.no_grad():
        plain = load_model(str(tiny_model_dir)).eval()(IDS).logits
    from_zip = lora_logits(tiny_model_dir, folder)
    assert torch.equal(from_zip, lora_logits(tiny_model_dir, trained.adapter_dir))
    assert (from_zip - plain).abs().max() > 1e-2  # the zip really carries the trained adapter
    assert AutoTokenizer.from_pretrained(folder).chat_template == \
        AutoTokenizer.from_pretrained(trained.adapter_dir).chat_template

    before = out.read_bytes()
    with pytest.raises(ExportError, match="already exists") as err:
        adapter_zip(trained, out)
    assert err.value.reason.code == "export_zip_exists"
    assert out.read_bytes() == before


def test_only_a_finished_adapter_run_can_be_zipped(tmp_path, tiny_config, tiny_model_dir):
    store = RunStore(tmp_path / "runs")
    with pytest.raises(RunStateError, match="no final weights"):
        adapter_zip(store.create(tiny_config), tmp_path / "early.zip")
    full = store.create(dataclasses.replace(tiny_config, finetuning_type="full"))
    shutil.copytree(tiny_model_dir, full.model_dir)  # what a full fine-tune saves: a whole model
    full.update_status(state="completed")
    with pytest.raises(ExportError, match="no LoRA adapter") as err:
        adapter_zip(full, tmp_path / "full.zip")
    assert err.value.reason.params == {"run": full.id, "kind": "full"}
    assert list(tmp_path.glob("*.zip*")) == []


# --- the model card

def test_model_card_has_hub_metadata_final_losses_and_saved_scores(trained):
    saved = save_result(scoring_result(), trained.eval_dir, "tuned")
    broken = trained.eval_dir / "broken.json"
    broken.write_text("{", encoding="utf-8")  # a damaged file is no score, and no crash
    try:
        meta, body = split_card(model_card(trained))
        _, without_scores = split_card(model_card(trained, scores=[]))
    finally:
        saved.unlink()
        broken.unlink()
    # The base is a local folder and the dataset a local file (of owner/name shape): neither is
    # a hub id, so neither is claimed as one.
    assert meta == {"library_name": "peft", "pipeline_tag": "text-generation",
                    "tags": ["fine-tune-studio", "sft", "lora"]}
    assert body.startswith("\n# Nova\n\n")  # a blank line after the front matter, then the title
    assert f"`{trained.config().model}` (a local folder)" in body

    losses = [m["loss"] for m in trained.metrics() if "loss" in m]
    evals = [m["eval_loss"] for m in trained.metrics() if "eval_loss" in m]
    assert f"{losses[0]:.4f}" != f"{losses[-1]:.4f}"
    assert f"- **Final train loss:** {losses[-1]:.4f}\n" in body
    assert f"{losses[0]:.4f}" not in body  # the last value, not any value
    assert f"- **Final eval loss:** {evals[-1]:.4f}\n" in body
    assert "- **Steps:** 4 of 4" in body
    for row in ("| `learning_rate` | 0.05 |", "| `lora_rank` | 16 |", "| `lora_alpha` | 32 |",
                "| `max_length` | 128 |", "| `seed` | 42 |", "| `val_fraction` | 0.2 |"):
        assert row in body
    assert "dpo_beta" not in body  # settings of other methods stay out

    score_row = ("| ceval | val | 5 | plain | fine-tuned | 8 | 62.5% | "
                 "STEM 50.0% · Humanities 75.0% |")
    assert score_row in body
    assert "## Scores" not in without_scores and score_row not in without_scores

    snippet = body.split("```python\n", 1)[1].split("```", 1)[0]
    ast.parse(snippet)  # the loading example is valid Python
    assert "PeftModel.from_pretrained(base, repo)" in snippet
    assert f'from_pretrained("{trained.config().model}")' in snippet


def test_card_metadata_names_hub_models_and_datasets(tmp_path, tiny_config):
    store = RunStore(tmp_path)
    cfg = dataclasses.replace(tiny_config, model="HuggingFaceTB/SmolLM2-360M-Instruct",
                              dataset="tatsu-lab/alpaca", method="dpo", finetuning_type="full")
    meta, body = split_card(model_card(store.create(cfg)))
    assert meta == {"base_model": "HuggingFaceTB/SmolLM2-360M-Instruct",
                    "library_name": "transformers", "pipeline_tag": "text-generation",
                    "tags": ["fine-tune-studio", "dpo", "full"], "datasets": ["tatsu-lab/alpaca"]}
    assert "| `dpo_beta` | 0.1 |" in body and "lora_rank" not in body
    assert "Final train loss" not in body  # nothing trained yet: no loss is made up

    bundled = dataclasses.replace(tiny_config, model="smollm2-135m-instruct")
    meta, _ = split_card(model_card(store.create(bundled)))
    assert meta["base_model"] == BUNDLED_HUB_ID


# --- the merged folder

def test_merged_export_has_the_card_and_answers_like_base_plus_adapter(trained, tmp_path,
                                                                       tiny_model_dir):
    out = export_run(trained, tmp_path / "merged")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card == model_card(trained, merged=True)
    meta, body = split_card(card)
    assert meta["library_name"] == "transformers" and "merged" in meta["tags"]
    assert "PeftModel" not in body  # the merged folder loads with transformers alone

    written = sum(p.stat().st_size for p in out.iterdir() if p.name != "README.md")
    assert abs(merged_size(trained) - written) / written < 0.02

    tokenizer = AutoTokenizer.from_pretrained(out)
    enc = tokenizer.apply_chat_template([{"role": "user", "content": "Who are you?"}],
                                        add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)

    def greedy(model) -> list[int]:
        with torch.no_grad():
            ids = model.eval().generate(**enc, do_sample=False, max_new_tokens=8,
                                        pad_token_id=tokenizer.pad_token_id)
        return ids[0, enc["input_ids"].shape[1]:].tolist()

    merged = greedy(load_model(str(out)))
    tuned = greedy(PeftModel.from_pretrained(load_model(str(tiny_model_dir)),
                                             str(trained.adapter_dir)))
    assert merged == tuned
    assert merged != greedy(load_model(str(tiny_model_dir)))  # the merge changed the answer


# --- disk space

DiskUsage = collections.namedtuple("DiskUsage", "total used free")


def fake_disk(monkeypatch, free: int) -> list:
    """``shutil.disk_usage`` reporting ``free`` bytes; returns the paths it is asked about."""
    seen = []

    def disk_usage(path):
        seen.append(path)
        return DiskUsage(10**13, 10**13 - free, free)

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    return seen


def test_export_refuses_a_short_disk_before_writing_anything(trained, tmp_path, monkeypatch):
    seen = fake_disk(monkeypatch, free=50 * 10**6)
    target = tmp_path / "not-yet" / "merged"
    with pytest.raises(ExportError, match="Not enough disk space") as err:
        export_run(trained, target)
    need = human_size(space_needed(merged_size(trained)))
    assert err.value.reason.code == "export_disk_space"
    assert err.value.reason.params == {"need": need, "free": "50.0 MB", "path": str(tmp_path)}
    assert need in str(err.value) and "50.0 MB" in str(err.value)
    assert seen == [tmp_path]  # the nearest folder that exists: its disk is the one written
    assert list(tmp_path.iterdir()) == []  # no target, no target.tmp

    with pytest.raises(ExportError, match="Not enough disk space"):
        adapter_zip(trained, tmp_path / "adapter.zip")
    assert list(tmp_path.iterdir()) == []


def test_free_space_check_counts_the_margin(tmp_path, monkeypatch):
    need = 1_200_000_000  # 5% is below the 100 MB floor: 1.3 GB must be free
    fake_disk(monkeypatch, free=1_300_000_000)
    check_free_space(tmp_path, need)
    fake_disk(monkeypatch, free=1_299_999_999)
    with pytest.raises(ExportError):
        check_free_space(tmp_path, need)
    fake_disk(monkeypatch, free=10**9)
    with pytest.raises(ExportError) as err:
        check_free_space(tmp_path / "a" / "b", 10 * 10**9)  # 5% above the floor: 10.5 GB
    assert err.value.reason.params == {"need": "10.5 GB", "free": "1.0 GB", "path": str(tmp_path)}


def test_human_sizes():
    assert [human_size(n) for n in (0, 999, 1000, 1536, 999_960, 1_234_567_890, 2 * 10**12)] == \
        ["0 B", "999 B", "1.0 KB", "1.5 KB", "1.0 MB", "1.2 GB", "2.0 TB"]


def test_merged_size_is_unknown_for_a_hub_base_not_downloaded(tmp_path, tiny_config):
    run = RunStore(tmp_path).create(dataclasses.replace(
        tiny_config, model="fine-tune-studio-tests/not-downloaded-anywhere"))
    assert merged_size(run) is None  # no weights yet
    run.adapter_dir.mkdir()
    (run.adapter_dir / "adapter_config.json").write_text("{}", encoding="utf-8")
    assert merged_size(run) is None
