"""Loading what a scoring job scores: a base model, optionally with a run's adapter on it.

``resolve_adapter`` turns a run id, run folder or adapter folder into the weights to load and the
run's base model. ``load_for_eval`` loads the base model once with the adapter attached, so base
and tuned are scored on one copy of the base weights: the base side runs inside
``adapter_disabled``. Adapter weights load from safetensors only (``attach_adapter`` refuses a
pickle, a missing or a damaged file by name). ``auto`` precision is fp32 on a CPU, the numbers to
compare with the reference harness.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from studio.engine.errors import EvalDataError, ModelError, RunNotFoundError
from studio.engine.runs import RunStore, is_run_folder

DTYPES = ("auto", "float32", "bfloat16", "float16")


def torch_dtype(name: str):
    """``auto`` is bf16 on a GPU that has it and fp32 elsewhere (the numbers to quote)."""
    import torch

    if name not in DTYPES:
        raise EvalDataError("eval_dtype_unknown", dtype=name, choices=", ".join(DTYPES))
    if name == "auto":
        cuda = torch.cuda.is_available()
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)


def resolve_adapter(spec: str, runs_dir: str | Path | None = None) -> tuple[Path, str | None]:
    """A run id, run folder or adapter folder -> (weights folder, the run's base model id)."""
    path = Path(spec).expanduser()
    run = None
    if is_run_folder(path) or (not path.exists() and runs_dir and Path(runs_dir).is_dir()):
        try:
            run = RunStore(runs_dir or path.parent).resolve(spec)
        except RunNotFoundError:
            run = None
    if run is not None:
        weights = run.weights_dir()
        if weights is None:
            raise EvalDataError("eval_run_no_weights", run=run.id)
        try:
            base = run.config().model
        except Exception:  # an unreadable config: the caller must then name the model
            base = None
        return weights, base
    if (path / "adapter_config.json").exists() or (path / "config.json").exists():
        return path, None
    if runs_dir:
        raise EvalDataError("eval_adapter_unknown", spec=spec, runs_dir=str(runs_dir))
    raise EvalDataError("eval_adapter_unknown_bare", spec=spec)


def load_for_eval(model_id: str | None, adapter: str | None = None, dtype: str = "auto",
                  runs_dir: str | Path | None = None):
    """(model, tokenizer): the base model, with the adapter attached when one is given.

    A run that saved full weights is loaded as the model itself. With an adapter, scoring the
    base model is ``with adapter_disabled(model):`` on the same object.
    """
    from studio.engine.models import load_model, load_tokenizer

    weights, base = resolve_adapter(adapter, runs_dir) if adapter else (None, None)
    if weights is not None and (weights / "config.json").exists():
        model_id, weights = str(weights), None
    model_id = model_id or base
    if not model_id:
        raise ModelError("eval_no_model")
    model = load_model(model_id, dtype=torch_dtype(dtype))
    tokenizer = load_tokenizer(model_id)
    if weights is not None:
        from studio.engine.chat.adapters import attach_adapter

        model = attach_adapter(model, weights, adapter)
    return model.eval(), tokenizer


@contextlib.contextmanager
def adapter_disabled(model):
    """Score the base model of a PEFT model; a plain model is left as it is."""
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
    else:
        yield model
