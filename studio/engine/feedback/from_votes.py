"""'Train on my votes': the chat tab's blind votes on one run become a DPO run continuing it.

The votes of every run share one preference file (``chat.votes``); the pairs voted on the chosen
run are copied to a dataset of their own (``datasets/votes-<run>.jsonl``, a new numbered file if
one exists, so an edited copy is never overwritten), and the config is the ``dpo-votes`` preset
pointed at it: the run's base model, ``start_from`` the run when it trained a LoRA adapter, a
few epochs over however many pairs there are, and the voted questions as probes, so the Train
tab shows the answers moving the way the votes asked.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from studio.engine.chat.votes import preference_path
from studio.engine.data import exclusive
from studio.engine.errors import VoteError
from studio.engine.io import read_jsonl
from studio.engine.runs import FINISHED_WITH_WEIGHTS, RunStore
from studio.engine.train.config import TrainConfig, load_yaml
from studio.engine.workspace import PRESETS

PRESET = PRESETS / "dpo-votes.yaml"


def voted_pairs(workspace, run_id: str) -> list[dict]:
    """The preference rows voted while chatting with ``run_id``."""
    return [r for r in read_jsonl(preference_path(workspace)) if r.get("run_id") == run_id]


def write_votes_dataset(workspace, run_id: str, pairs: list[dict]) -> Path:
    """The pairs in a new file of their own in the workspace's datasets folder."""
    folder = Path(workspace.datasets_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs).encode("utf-8")
    names = [f"votes-{run_id}.jsonl", *(f"votes-{run_id}-{n}.jsonl" for n in range(2, 10000))]
    for name in names:
        try:
            return exclusive.write_new(folder / name, data)  # never over an existing file
        except FileExistsError:
            continue
    raise FileExistsError(folder / names[0])


def votes_config(workspace, store: RunStore, run_id: str) -> tuple[TrainConfig, Path]:
    """(config, dataset) of a DPO run on the votes cast for ``run_id``."""
    try:
        run = store.get(run_id) if run_id else None
    except FileNotFoundError:
        run = None
    if run is None or run.status().get("state") not in FINISHED_WITH_WEIGHTS:
        raise VoteError("votes_run_unknown")
    pairs = voted_pairs(workspace, run.id)
    if not pairs:
        raise VoteError("votes_none", run=run.id)
    source = run.config()
    path = write_votes_dataset(workspace, run.id, pairs)
    questions = []
    for p in pairs:
        q = p["prompt"][-1]["content"]
        if q not in questions:
            questions.append(q)
    lora = (run.adapter_dir / "adapter_config.json").exists()
    cfg = dataclasses.replace(
        load_yaml(PRESET), model=source.model, dataset=str(path),
        start_from=run.id if lora else "", finetuning_type=source.finetuning_type if lora
        else "lora", system_prompt=source.system_prompt, name=source.name,
        author=source.author, batch_size=min(4, len(pairs)), probe_prompts=questions[:2],
        run_name=f"votes-{run.id}"[:40])
    if not lora:  # full weights: tune a new adapter on the run's saved model instead
        cfg = dataclasses.replace(cfg, model=str(run.weights_dir()))
    return cfg, path
