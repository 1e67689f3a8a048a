"""Preflight: what a run must pass before its folder is created, each problem naming its field.

``config.validate`` judges the fields on their own; this module also judges what they name, the
way the job would meet it, but in seconds: the model's own ``config.json`` (its context limit
and its layers, read from the folder, the download cache or, with a short timeout, the hub, so a
model that does not exist is said at once instead of after the hub client's minute of retries),
the data (read and converted exactly as the job reads it, so a file that cannot be read, rows of
the wrong kind for the method or too few rows to hold some out is refused here), the exam folders
of the forgetting check that follows a completed run (a missing one would only show after the
whole run), and the memory a
batch needs on this machine (the estimate's own arithmetic on its frugal side, so only a run that
cannot fit even with gradient checkpointing is refused). ``check_ready`` is called by the Train
tab's Start (through ``JobManager.start``) and by ``studio train``: a run that cannot start never
leaves a run folder behind to fill the Runs list.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

from studio.engine.errors import USER_ERRORS, ConfigError, ModelError, Reason, reason_of
from studio.engine.models import BUNDLED_ID, BUNDLED_PACKAGE, cache_root, resolve_model
from studio.engine.scoring.forgetting import exam_problems
from studio.engine.train.config import PAIR_METHODS, TrainConfig, uses_packing, validate

HUB_TIMEOUT_S = 10  # one metadata request; the download client's retries take a minute offline
LIMIT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
SCALED_ROPE = ("linear", "dynamic", "yarn")  # rope types whose factor stretches the limit
BUNDLED_FACTS = {"limit": 8192, "layers": 30}  # SmolLM2-135M, before its first conversion


def check_ready(cfg: TrainConfig, dataset_path: str | None = None,
                exams: dict | None = None) -> TrainConfig:
    """``cfg`` if a run of it can start here, else ConfigError listing every problem."""
    errors = problems(cfg, dataset_path, exams)
    if errors:
        raise ConfigError(errors)
    return cfg


def problems(cfg: TrainConfig, dataset_path: str | None = None,
             exams: dict | None = None) -> list[Reason]:
    """Every reason a run of ``cfg`` on ``dataset_path`` (default ``cfg.dataset``) cannot
    start; the memory is judged only once everything else is fine (it needs model and data).
    ``exams`` are the forgetting check's folders as the caller resolved them (default: from
    the config)."""
    errors = validate(cfg) + exam_problems(cfg, exams)
    try:
        facts = model_facts(cfg.model)
    except USER_ERRORS as exc:
        return errors + [_named("model", exc)]
    errors += _model_fit(cfg, facts)
    try:
        records = _records(cfg, dataset_path or cfg.dataset)
    except USER_ERRORS as exc:
        return errors + [_named("dataset", exc)]
    errors += _data_fit(cfg, records)
    return errors or _memory_fit(cfg, records)


def _named(field: str, exc: BaseException) -> Reason:
    return Reason("field_problem", {"field": field, "reason": reason_of(exc)})


# ------------------------------------------------------------------------------- the model
def model_facts(model: str) -> dict:
    """``{"limit": tokens or None, "layers": n or None}`` from the model's config.json, without
    loading weights or running its code; ModelError when there is no such model."""
    model = (model or "").strip()
    if model == BUNDLED_ID:
        converted = cache_root() / "models" / BUNDLED_ID / "config.json"
        if converted.exists():
            return _facts(_read_config(converted, model))
        if importlib.util.find_spec(BUNDLED_PACKAGE) is None:
            raise ModelError("bundled_missing")
        return dict(BUNDLED_FACTS)  # converting it takes ~30 s: the job does that once
    source = resolve_model(model)  # a folder, or a hub id (names that are neither are refused)
    if Path(source).is_dir():
        return _facts(_read_config(Path(source) / "config.json", model))
    return _facts(_hub_config(source))


def _read_config(path: Path, model: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError("model_load", model=model, detail=f"config.json: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError("model_load", model=model, detail="config.json is not an object")
    return data


def _hub_config(model_id: str) -> dict:
    """The config.json of a hub model: from the download cache, else one quick question to the
    hub (is there such a model?) before fetching it; {} when the hub will not say."""
    from huggingface_hub import HfApi, constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    cached = try_to_load_from_cache(model_id, "config.json")
    if isinstance(cached, str):
        return _read_config(Path(cached), model_id)
    if constants.HF_HUB_OFFLINE:
        raise ModelError("model_hub_unreachable", model=model_id)
    try:
        HfApi().model_info(model_id, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        return {}  # it exists; the download says whether this login may have it
    except RepositoryNotFoundError:
        raise ModelError("model_not_on_hub", model=model_id) from None
    except Exception:  # no network, DNS, a proxy, a timeout: all one thing to the user
        raise ModelError("model_hub_unreachable", model=model_id) from None
    try:
        return _read_config(Path(hf_hub_download(model_id, "config.json",
                                                 etag_timeout=HUB_TIMEOUT_S)), model_id)
    except Exception:  # the model exists: let the job's own download say what is wrong
        return {}


def _facts(config: dict) -> dict:
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    limit = next((text[k] for k in LIMIT_KEYS if isinstance(text.get(k), int)), None)
    rope = text.get("rope_scaling") or text.get("rope_parameters") or {}
    kind = rope.get("rope_type", rope.get("type")) if isinstance(rope, dict) else None
    if limit and kind in SCALED_ROPE and isinstance(rope.get("factor"), (int, float)):
        # Stretched positions: the limit is the original one times the factor.
        limit = int(rope.get("original_max_position_embeddings", limit) * rope["factor"])
    layers = text.get("num_hidden_layers", text.get("n_layer"))
    return {"limit": limit, "layers": layers if isinstance(layers, int) else None}


def _model_fit(cfg: TrainConfig, facts: dict) -> list[Reason]:
    out = []
    if facts["limit"] and cfg.max_length > facts["limit"]:
        out.append(Reason("model_max_length", {"field": "max_length", "got": cfg.max_length,
                                               "model": cfg.model, "limit": facts["limit"]}))
    layers = facts["layers"]
    if cfg.finetuning_type == "freeze" and layers and cfg.freeze_trainable_layers > layers:
        out.append(Reason("model_too_few_layers", {"field": "freeze_trainable_layers",
                                                   "got": cfg.freeze_trainable_layers,
                                                   "layers": layers, "model": cfg.model}))
    return out


# ------------------------------------------------------------------------------- the data
def _is_hub_dataset(source: str) -> bool:
    from studio.engine.data import dataset_info
    from studio.engine.data.read import SUFFIXES

    path = Path(str(source))
    return not (dataset_info.is_entry(str(source)) or path.exists()
                or path.suffix.lower() in SUFFIXES)


def _records(cfg: TrainConfig, source: str) -> list[dict] | None:
    """The rows the job will train on; None for a hub dataset (fetching all of it here would
    make Start wait for a download the job makes anyway)."""
    if _is_hub_dataset(source):
        return None
    from studio.engine.train.prepare import load_training_records

    return load_training_records(cfg, source)[0]


def _data_mismatch(method: str, records: list[dict]) -> str | None:
    """The error code when the rows are not what ``method`` learns from, else None."""
    pairs = sum(1 for r in records if "chosen" in r)
    if method in PAIR_METHODS:
        return None if pairs else "data_no_pairs"
    if method == "kto":
        labels = {r["label"] for r in records if "label" in r} | ({True, False} if pairs else set())
        return None if len(labels) == 2 else "data_no_kto_labels"
    if method in ("sft", "pt") and pairs:
        return "data_is_preference"
    return None


def _data_fit(cfg: TrainConfig, records: list[dict] | None) -> list[Reason]:
    if records is None:
        return []
    wrong = _data_mismatch(cfg.method, records)
    if wrong:  # the method and the rows disagree: the job would fail after loading the model
        return [Reason("field_problem", {"field": "dataset",
                                         "reason": Reason(wrong, {"path": cfg.dataset})})]
    if cfg.val_fraction and len(records) < 2:
        return [Reason("val_too_few_rows", {"field": "val_fraction", "got": cfg.val_fraction,
                                            "rows": len(records)})]
    return []


# ------------------------------------------------------------------------------- memory
def machine_memory() -> tuple[int, str]:
    """(bytes, "GPU" or "CPU"): the memory one process of a run trains in."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory, "GPU"
    import psutil

    return psutil.virtual_memory().total, "CPU"


def memory_needed(cfg: TrainConfig, records: list[dict] | None) -> float:
    """Bytes a run needs at the least: the estimate with checkpointing on (unless turned off),
    for rows as long as the longest one (every row is max_length when packed)."""
    import torch

    from studio.engine.train import estimate as est

    shape = est.model_shape(cfg.model, cfg.trust_remote_code)
    seq = cfg.max_length
    if records and not uses_packing(cfg) and cfg.method in ("sft", "pt"):
        seq = est.token_lengths(cfg, records)[1]  # batches are padded to their longest row
    frugal = cfg if cfg.gradient_checkpointing == "off" else dataclasses.replace(
        cfg, gradient_checkpointing="on")
    need = est.memory_bytes(frugal, shape, est.trainable_params(cfg, shape), seq)
    if cfg.launch == "distributed" and not torch.cuda.is_available():
        need *= cfg.nproc_per_node  # every process of a CPU run shares this machine's memory
    return need


def _memory_fit(cfg: TrainConfig, records: list[dict] | None) -> list[Reason]:
    try:
        need = memory_needed(cfg, records)
    except Exception:  # a shape the estimate cannot size: the run finds out for itself
        return []
    have, device = machine_memory()
    if need <= have:
        return []
    return [Reason("run_memory", {"field": "batch_size", "got": cfg.batch_size,
                                  "length": cfg.max_length, "need": f"{need / 1e9:.1f}",
                                  "have": f"{have / 1e9:.1f}", "device": device})]
