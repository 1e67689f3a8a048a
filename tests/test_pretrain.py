"""Raw text for continued pre-training: .txt and .md files as rows, and the pt method on them.

A text file is one document or one row per paragraph; a file that is not UTF-8 is a coded error
naming it. ``pt`` trains through the SFT trainer on every token, packed by default (TRL's
padding-free bfd_split packing: long texts are split across rows, never cut), and refuses
conversations before a model is loaded. Old boolean ``packing`` configs still load.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from studio.engine.data.formats import load_records
from studio.engine.data.read import read_rows
from studio.engine.errors import DataError
from studio.engine.runs import RunStore
from studio.engine.train import config as C
from studio.engine.train.job import run_training

ROOT = Path(__file__).resolve().parents[1]

MD = ("\ufeff# Notes\r\n\r\nThe first paragraph,\r\nstill the first.\r\n\r\n   \r\n"
      "The second one.\r\n\r\n```python\r\nx = 1\r\n\r\ny = 2\r\n```\r\n\r\n\r\n第三段。\r\n")
MD_PARAGRAPHS = ["# Notes", "The first paragraph,\nstill the first.", "The second one.",
                 "```python\nx = 1\n\ny = 2\n```", "第三段。"]
CORPUS = "\n\n".join(
    ["The lighthouse keeper climbs the stairs every evening and lights the lamp.",
     "灯塔看守人每天傍晚登上台阶，点亮灯火。",
     "On foggy nights the keeper sounds the horn until the morning comes."] * 4)


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.md"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def pt_config(tiny_config, dataset, **changes):
    return dataclasses.replace(tiny_config, dataset=str(dataset), method="pt",
                               text_split="paragraph", max_steps=6, save_steps=100,
                               probe_steps=0, probe_prompts=["The lighthouse"], max_length=32,
                               **changes)


# ------------------------------------------------------------------------------- reading


@pytest.mark.parametrize("suffix", [".md", ".txt", ".MD"])
def test_text_files_read_as_one_document_or_as_paragraphs(tmp_path, suffix):
    path = tmp_path / f"notes{suffix}"
    path.write_bytes(MD.encode("utf-8"))
    document = MD.removeprefix("\ufeff").replace("\r\n", "\n").strip()
    assert read_rows(path) == [{"text": document}]
    assert read_rows(path, text_split="document") == [{"text": document}]
    assert read_rows(path, text_split="paragraph") == [{"text": p} for p in MD_PARAGRAPHS]
    records, fmt = load_records(path, text_split="paragraph")
    assert fmt == "text" and [r["text"] for r in records] == MD_PARAGRAPHS


def test_a_file_that_is_not_utf8_is_a_coded_error_naming_it(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Caf\u00e9 au lait".encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_rows(path)
    assert info.value.reason.code == "data_not_utf8"
    assert str(info.value) == (f"{path}: not UTF-8 text: byte 0xE9 on line 1 (byte 3) is not "
                               "UTF-8; save the file as UTF-8 and load it again")


@pytest.mark.parametrize("content", ["", "\n\n  \n\t\n", "\ufeff"])
@pytest.mark.parametrize("split", ["document", "paragraph"])
def test_an_empty_text_file_holds_no_rows(tmp_path, content, split):
    path = tmp_path / "empty.md"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_rows(path, text_split=split)
    assert info.value.reason.code == "data_empty"


def test_an_unknown_text_split_is_refused(tmp_path):
    with pytest.raises(DataError, match="text_split must be one of document, paragraph"):
        read_rows(tmp_path / "x.md", text_split="sentence")


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_a_text_column_is_plain_text_in_every_table_format(tmp_path, suffix):
    import pandas as pd

    texts = ["First document, with a comma.", "第二篇文档。\n两行。"]
    path = tmp_path / f"texts.{suffix}"
    frame = pd.DataFrame({"text": texts, "source": ["a", "b"]})
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "parquet":
        frame.to_parquet(path)
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                for r in frame.to_dict("records")), encoding="utf-8")
    records, fmt = load_records(path)
    assert fmt == "text" and records == [{"text": t} for t in texts]


def test_text_files_can_be_uploaded_and_are_listed(workspace, tmp_path_factory):
    from studio.engine.data import store

    src = tmp_path_factory.mktemp("browser") / "my notes.md"
    src.write_text(CORPUS, encoding="utf-8")
    uploaded = store.store_upload(workspace, str(src))
    assert uploaded == "datasets/uploads/my-notes.md"
    listed = store.list_datasets(workspace)
    assert uploaded in listed and "assets/pt-sample.md" in listed


def test_the_sample_corpus_reads_as_paragraphs():
    rows = read_rows(ROOT / "assets" / "pt-sample.md", text_split="paragraph")
    assert len(rows) > 8 and rows[0] == {"text": "# The Lighthouse Keeper's Notebook"}
    assert any("灯塔" in r["text"] for r in rows)


# ------------------------------------------------------------------------------- config


def test_packing_is_auto_on_or_off_and_old_booleans_still_load(tmp_path):
    assert C.TrainConfig().packing == "auto"
    for old, new in ((True, "on"), (False, "off"), ("true", "on"), ("False", "off"),
                     ("on", "on"), ("auto", "auto")):
        assert C.from_dict({"packing": old}).packing == new
    assert C.with_overrides(C.TrainConfig(), ["packing=false"]).packing == "off"
    for value, expected in (("true", "on"), ("false", "off")):
        path = tmp_path / f"old-{value}.yaml"
        path.write_text(f"method: sft\npacking: {value}\n", encoding="utf-8")
        assert C.load_yaml(path).packing == expected
    assert C.validate(C.TrainConfig(packing="maybe"))[0].code == "field_choice"


def test_packing_decides_per_method_and_dpo_refuses_only_on():
    uses = {(m, p): C.uses_packing(C.TrainConfig(method=m, packing=p))
            for m in ("sft", "dpo", "pt") for p in ("auto", "on", "off")}
    assert [k for k, v in uses.items() if v] == [("sft", "on"), ("dpo", "on"), ("pt", "auto"),
                                                 ("pt", "on")]
    assert [r.code for r in C.validate(C.TrainConfig(method="dpo", packing="on"))] == [
        "packing_with_method"]
    assert C.validate(C.TrainConfig(method="dpo", packing="auto")) == []
    assert C.validate(C.TrainConfig(method="pt", text_split="paragraph")) == []


def test_sft_args_pack_pt_by_default_and_not_when_off(tmp_path):
    from studio.engine.train.args import to_sft_args

    run = RunStore(tmp_path).create(C.TrainConfig())
    for method, packing, packed, strategy in (("pt", "auto", True, "bfd_split"),
                                              ("pt", "off", False, None),
                                              ("sft", "auto", False, None),
                                              ("sft", "on", True, "bfd")):
        cfg = C.TrainConfig(method=method, packing=packing, gradient_checkpointing="off")
        args = to_sft_args(cfg, run, None, has_eval=False)
        assert args.packing is packed, (method, packing)
        if packed:
            assert args.packing_strategy == strategy


# ------------------------------------------------------------------------------- training


def test_pt_trains_every_token_packed_and_the_loss_falls(tmp_path, tiny_config, corpus,
                                                         monkeypatch):
    from studio.engine.train import sft

    seen = {}
    build = sft.build_sft_trainer

    def spy(*args, **kwargs):
        trainer = seen["trainer"] = build(*args, **kwargs)
        loss = trainer.compute_loss

        def compute_loss(model, inputs, *rest, **kw):
            seen.setdefault("batches", []).append({k: v.clone() for k, v in inputs.items()
                                                   if k in ("labels", "position_ids")})
            return loss(model, inputs, *rest, **kw)

        trainer.compute_loss = compute_loss
        return trainer

    monkeypatch.setattr(sft, "build_sft_trainer", spy)
    cfg = pt_config(tiny_config, corpus, assistant_only_loss=True)
    run = RunStore(tmp_path / "runs").create(cfg)
    assert run_training(run) == "completed", run.status()
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    # Packed: TRL's bfd_split rows, every label the token itself (nothing masked).
    dataset = seen["trainer"].train_dataset
    assert "seq_lengths" in dataset.column_names and len(dataset) > 1
    assert all(row["labels"] == row["input_ids"] for row in dataset)
    assert max(len(row["input_ids"]) for row in dataset) <= cfg.max_length
    # Collated padding-free: only each text's first token (which nothing predicts) is -100.
    for batch in seen["batches"]:
        masked = batch["labels"] == -100
        assert masked.equal(batch["position_ids"] == 0)
    losses = [m["loss"] for m in run.metrics() if "loss" in m]
    assert len(losses) == cfg.max_steps and losses[-1] < losses[0]
    # Probes continue plain text (no chat template): the answers are recorded.
    assert run.samples()[-1]["answers"][0]["prompt"] == "The lighthouse"


def test_pt_rows_train_every_token_even_with_answers_only_on(tiny_config, tiny_model_dir,
                                                              corpus):
    from studio.engine.models import load_tokenizer
    from studio.engine.train.prepare import prepare_sft_data

    cfg = pt_config(tiny_config, corpus, assistant_only_loss=True)
    data = prepare_sft_data(cfg, load_tokenizer(str(tiny_model_dir)), str(corpus))
    assert len(data.train) == 12  # twelve paragraphs, one row each
    assert all(set(row["assistant_masks"]) == {1} for row in data.train)
    assert [r["text"] for r in data.records[:3]] == CORPUS.split("\n\n")[:3]


def test_conversations_under_pt_fail_before_a_model_is_loaded(tmp_path, tiny_config):
    from studio.engine.train.prepare import load_training_records

    cfg = pt_config(tiny_config, ROOT / "assets" / "identity.json")
    with pytest.raises(DataError) as info:
        load_training_records(cfg, cfg.dataset)
    assert info.value.reason.code == "pt_needs_text"
    assert "holds alpaca rows" in str(info.value) and "choose method sft" in str(info.value)
    run = RunStore(tmp_path / "runs").create(cfg)
    assert run_training(run) == "failed"
    assert "choose method sft" in run.status()["error"]
    assert run.metrics() == [] and run.last_checkpoint() is None
    assert "training:" not in run.log_path.read_text()  # no step was ever started


# ------------------------------------------------------------------------------- the UI


def test_the_train_form_shows_each_field_only_for_its_methods():
    from studio.ui.train import form as tf

    def shown(method: str) -> set:
        updates = tf.visibility(method, "lora")
        names = ("lora", "rewards", *tf.VISIBILITY_FIELDS)
        return {n for n, u in zip(names, updates, strict=True) if u["visible"]}

    assert shown("pt") == {"lora"}
    assert shown("sft") == {"lora", "assistant_only_loss", "system_prompt"}
    assert shown("dpo") == {"lora", "system_prompt", "dpo_loss", "dpo_sft_weight", "dpo_beta"}
    assert shown("kto") == {"lora", "system_prompt", "dpo_beta", "kto_desirable_weight",
                            "kto_undesirable_weight"}
    assert shown("simpo") == {"lora", "system_prompt", "dpo_beta", "simpo_gamma"}
    assert shown("grpo") == {"lora", "rewards", "system_prompt", "grpo_generations",
                             "grpo_max_completion", "grpo_temperature", "grpo_kl"}


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    from gradio_client import Client

    from studio.engine.workspace import Workspace
    from tests.ui_server import launch_studio

    root = tmp_path_factory.mktemp("pt-ws")
    (root / "notes.md").write_bytes(MD.encode("utf-8"))
    demo, url = launch_studio(Workspace(root, [tiny_model_dir.parent]))
    yield Client(url, verbose=False)
    demo.close()


def test_the_data_tab_loads_a_markdown_file_as_paragraphs(studio):
    from studio.ui.data.tab import OUTPUTS

    def load(split: str, lang: str = "en") -> dict:
        result = studio.predict("notes.md", "auto", split, lang, api_name="/data_load")
        return dict(zip(OUTPUTS, result, strict=True))

    out = load("paragraph")
    assert "data-msg-ok" in out["status"] and "Loaded 5 rows" in out["status"]
    assert out["fmt"] == "text"
    assert [row[1] for row in out["table"]["data"]] == [" ".join(p.split())
                                                         for p in MD_PARAGRAPHS]  # one line each
    assert json.loads(out["editor"]) == {"text": "# Notes"}
    opened = studio.predict(4, "en", api_name="/data_open_row")
    assert json.loads(dict(zip(OUTPUTS, opened))["editor"]) == {"text": MD_PARAGRAPHS[3]}
    out = load("document", lang="zh")
    assert "载入 1 行" in out["status"]
