"""The model card (``README.md``) that travels with every export, as the Hugging Face Hub reads it.

Whoever receives an exported model, as a folder, a zip or a hub repository, should learn from
the card alone what it is and how it was made: the YAML front matter holds the hub's metadata
(base model, library, tags, datasets, pipeline), and the body says which base, method and
fine-tuning type, the settings that shaped the run, its final losses, time and steps, the scores
saved in the run's ``eval/`` folder, and a snippet that loads it. Everything comes from the run
folder (``config.yaml``, ``metrics.jsonl``, ``status.json``, ``eval/``), so a card written today
and one written next year from the same run are the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from studio.engine.data.read import SUFFIXES
from studio.engine.models import BUNDLED_ID, HUB_ID
from studio.engine.runs import Run
from studio.engine.scoring.results import history, load_result
from studio.engine.train.config import FIELDS, TrainConfig

# The bundled model is this hub model, dequantized from the Q4_1 GGUF the studio ships.
BUNDLED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
ADAPTER_TYPES = ("lora", "qlora")
METHODS = {"sft": "supervised fine-tuning (SFT)", "dpo": "direct preference optimization (DPO)",
           "kto": "Kahneman-Tversky optimization (KTO)",
           "orpo": "odds ratio preference optimization (ORPO)",
           "simpo": "simple preference optimization (SimPO)",
           "grpo": "group relative policy optimization (GRPO)",
           "pt": "continued pre-training (PT)"}
TYPES = {"lora": "LoRA", "qlora": "QLoRA (LoRA trained on a 4-bit base)",
         "full": "full fine-tune (every weight trained)",
         "freeze": "partial fine-tune (the last layers trained, the rest frozen)"}


def model_card(run: Run, scores: list[dict] | None = None, merged: bool = False) -> str:
    """The ``README.md`` of ``run``'s export. ``scores`` are scoring results (as ``save_result``
    writes them); None reads the run's own ``eval/`` folder. ``merged`` describes a LoRA run
    exported with its adapter folded into the base weights, which loads with transformers alone.
    """
    cfg = run.config()
    adapter = cfg.finetuning_type in ADAPTER_TYPES and not merged
    if scores is None:
        scores = [load_result(run.eval_dir / row["file"]) for row in history(run.eval_dir)]
    sections = [_front_matter(cfg, adapter, merged), _intro(run, cfg, adapter, merged),
                _training(run, cfg), _hyperparameters(cfg), _scores(scores), _usage(cfg, adapter)]
    return "\n".join(s for s in sections if s)


def _hub_model_id(model: str) -> str | None:
    """The hub id of a model as a TrainConfig names it; None for a local folder."""
    if model == BUNDLED_ID:
        return BUNDLED_HUB_ID
    if HUB_ID.match(model) and not Path(model).expanduser().exists():
        return model
    return None


def _hub_dataset(dataset: str) -> bool:
    # "assets/identity.json" has the owner/name shape too: a file suffix or a local path is a file.
    return bool(HUB_ID.match(dataset)) and Path(dataset).suffix.lower() not in SUFFIXES \
        and not Path(dataset).expanduser().exists()


def _front_matter(cfg: TrainConfig, adapter: bool, merged: bool) -> str:
    meta = {}
    base = _hub_model_id(cfg.model)
    if base:  # the hub expects a model id here; a local path would only be wrong metadata
        meta["base_model"] = base
    meta["library_name"] = "peft" if adapter else "transformers"
    meta["pipeline_tag"] = "text-generation"
    meta["tags"] = ["fine-tune-studio", cfg.method, cfg.finetuning_type] + \
        (["merged"] if merged and cfg.finetuning_type in ADAPTER_TYPES else [])
    if _hub_dataset(cfg.dataset):
        meta["datasets"] = [cfg.dataset]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _base_text(model: str) -> str:
    if model == BUNDLED_ID:
        return f"`{BUNDLED_HUB_ID}` (the studio's bundled copy, dequantized from a Q4_1 GGUF)"
    if _hub_model_id(model):
        return f"[`{model}`](https://huggingface.co/{model})"
    return f"`{model}` (a local folder)"


def _intro(run: Run, cfg: TrainConfig, adapter: bool, merged: bool) -> str:
    kind = TYPES[cfg.finetuning_type]
    if adapter:
        what = f"A {kind} adapter for"
    elif merged and cfg.finetuning_type in ADAPTER_TYPES:
        what = f"A fine-tuned model (a {kind} adapter merged into the weights) made from"
    else:
        what = f"A {kind} of"
    return (f"# {cfg.name or run.id}\n\n{what} {_base_text(cfg.model)}, trained by "
            f"{METHODS[cfg.method]} with Fine-Tune Studio (run `{run.id}`).\n")


def _training(run: Run, cfg: TrainConfig) -> str:
    summary, metrics = run.summary(), run.metrics()
    dataset = f"`{cfg.dataset}`" + (f" (split {cfg.dataset_split})" if _hub_dataset(cfg.dataset)
                                    else "")
    rows = [("Method", METHODS[cfg.method]), ("Fine-tuning type", TYPES[cfg.finetuning_type]),
            ("Dataset", dataset), ("State", summary["state"]),
            ("Steps", f"{summary['step']} of {summary['total_steps']}" +
             _epochs(run.status().get("epoch")))]
    if summary["duration_s"] is not None:
        rows.append(("Training time", _duration(summary["duration_s"])))
    for label, key in (("Final train loss", "loss"), ("Final eval loss", "eval_loss")):
        values = [m[key] for m in metrics if m.get(key) is not None]
        if values:
            rows.append((label, f"{values[-1]:.4f}"))
    return "## Training\n\n" + "".join(f"- **{k}:** {v}\n" for k, v in rows)


def _epochs(epoch) -> str:
    return f" ({epoch:.2f} epochs)" if isinstance(epoch, (int, float)) else ""


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _hyperparameters(cfg: TrainConfig) -> str:
    names = ["learning_rate", "lr_scheduler", "warmup_ratio",
             "max_steps" if cfg.max_steps else "num_epochs", "batch_size",
             "gradient_accumulation", "max_length", "packing", "weight_decay", "max_grad_norm",
             "dtype", "seed"]
    names += ["assistant_only_loss"] if cfg.method == "sft" else []
    # each method's own settings: the fields the form shows only for it
    names += [n for n, f in FIELDS.items()
              if cfg.method in (f.metadata["methods"] or ()) and not n.startswith("reward_")]
    names += [n for n in FIELDS if n.startswith("reward_") and cfg.method == "grpo"
              and getattr(cfg, n) not in ("", 0, 0.0)]
    names += ["start_from"] if cfg.start_from else []
    if cfg.finetuning_type in ADAPTER_TYPES:
        names += ["lora_rank", "lora_alpha", "lora_dropout", "lora_target"]
    if cfg.finetuning_type == "freeze":
        names.append("freeze_trainable_layers")
    names += [n for n in ("max_samples", "val_fraction") if getattr(cfg, n)]
    rows = [(f"`{n}`", _value(getattr(cfg, n))) for n in names]
    return ("## Hyperparameters\n\nThe names are the studio's settings (`config.yaml`, "
            "`--set name=value`).\n\n" + _table(("Setting", "Value"), rows))


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _scores(scores: list[dict]) -> str:
    if not scores:
        return ""
    rows = []
    for r in scores:
        o = r["overall"]
        n = f"{o['n']}" + (" (stopped early)" if r.get("stopped") else "")
        cats = " · ".join(f"{name} {_pct(c['acc'])}" for name, c in r.get("categories", {}).items())
        rows.append((r["benchmark"], r["split"], str(r.get("shots", 0)), r.get("format", "plain"),
                     "fine-tuned" if r.get("adapter") else "base", n, _pct(o["acc"]), cats))
    return "## Scores\n\nMultiple-choice accuracy, scored with Fine-Tune Studio.\n\n" + _table(
        ("Benchmark", "Split", "Shots", "Format", "Model", "Questions", "Accuracy",
         "Per category"), rows)


def _pct(acc: float) -> str:
    return f"{100 * acc:.1f}%"


def _usage(cfg: TrainConfig, adapter: bool) -> str:
    base = json.dumps(_hub_model_id(cfg.model) or cfg.model)  # a JSON string is a Python literal
    prompt = json.dumps(next((p for p in cfg.probe_prompts if p.strip()), "Hello!"),
                        ensure_ascii=False)
    load = (_LOAD_ADAPTER if adapter else _LOAD_MODEL).format(base=base)
    # Continued pre-training teaches the model to continue text, not to chat.
    ask = (_ASK_TEXT if cfg.method == "pt" else _ASK_CHAT).format(prompt=prompt)
    return f"## How to use\n\n```python\n{load}\n{ask}{_GENERATE}```\n"


_LOAD_ADAPTER = """\
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

repo = "path/to/this/folder"  # or its hub id, owner/name
base = AutoModelForCausalLM.from_pretrained({base})
model = PeftModel.from_pretrained(base, repo)
tokenizer = AutoTokenizer.from_pretrained(repo)
"""
_LOAD_MODEL = """\
from transformers import AutoModelForCausalLM, AutoTokenizer

repo = "path/to/this/folder"  # or its hub id, owner/name
model = AutoModelForCausalLM.from_pretrained(repo)
tokenizer = AutoTokenizer.from_pretrained(repo)
"""
_ASK_CHAT = """\
messages = [{{"role": "user", "content": {prompt}}}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                       return_tensors="pt", return_dict=True)
"""
_ASK_TEXT = """\
inputs = tokenizer({prompt}, return_tensors="pt")
"""
_GENERATE = """\
out = model.generate(**inputs, max_new_tokens=128)
print(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))
"""


def _table(header: tuple, rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
