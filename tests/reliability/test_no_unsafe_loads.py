"""Nothing the studio loads can run code: no pickle, no unsafe ``torch.load``, safetensors only.

A scan of ``studio/`` (its syntax trees, so a comment or a docstring never counts) finds no pickle
module, no ``torch.load`` without ``weights_only=True``, no ``eval``/``exec``, no literal
``trust_remote_code=True``, no model ``from_pretrained`` without ``use_safetensors=True`` and no
PEFT load outside ``studio.engine.chat.adapters`` (which refuses ``adapter_model.bin``). What the
installed stack does on Resume is checked by running one: transformers 5's Trainer reads
``rng_state.pth``, ``optimizer.pt`` and ``scheduler.pt`` with ``torch.load(weights_only=True)``
(numpy's RNG types allow-listed through ``safe_globals``), so a resumed run needs nothing unsafe;
the test records every ``torch.load`` of a real resume and fails if one is not weights-only.
Folders whose weights are only pickles (``pytorch_model.bin``, ``adapter_model.bin``) are refused
by name in the chat, the Scoring tab and the Deploy tab, and nothing is unpickled.
"""

from __future__ import annotations

import ast
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from studio.engine.errors import ModelError
from studio.engine.models import load_model
from studio.engine.runs import RunStore
from studio.engine.train.job import JobManager, run_training
from tests.reliability.chat_support import (
    answer_of,
    ask,
    copy_adapter,
    fingerprint,
    kept,
    notice_of,
    pickle_weights,
    served_studio,
)

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[2]
PICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
PEFT_HOME = ROOT / "studio" / "engine" / "chat" / "adapters.py"


# ---------------------------------------------------------------------------- the scan


def _name(node) -> str:
    """``torch.load`` for ``torch.load(...)``'s function, ``eval`` for a bare name, ``?.eval``
    for a method of an expression (``model.to(device).eval()``)."""
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def _keyword(call: ast.Call, name: str):
    found = [k.value for k in call.keywords if k.arg == name]
    return found[0].value if found and isinstance(found[0], ast.Constant) else None


def _import_problems(node) -> list[str]:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return [f"imports {n}" for n in names if n.split(".")[0] in PICKLERS]


def _call_problems(call: ast.Call, peft_allowed: bool) -> list[str]:
    name = _name(call.func)
    short = name.rsplit(".", 1)[-1]
    problems = []
    if name in ("eval", "exec"):
        problems.append(f"calls {name}()")
    if name == "torch.load" and _keyword(call, "weights_only") is not True:
        problems.append("torch.load without weights_only=True")
    if short in ("read_pickle", "loads") and name.split(".")[0] in ("pd", "pandas", *PICKLERS):
        problems.append(f"calls {name}()")
    if short == "load" and name.split(".")[0] in ("np", "numpy") and \
            _keyword(call, "allow_pickle") is True:
        problems.append("numpy load with allow_pickle=True")
    if _keyword(call, "trust_remote_code") is True:
        problems.append("trust_remote_code=True")
    owner = name.rsplit(".", 1)[0] if "." in name else ""
    is_model_class = owner.startswith("AutoModel") or owner.endswith(("ForCausalLM", "LMHeadModel"))
    if short == "from_pretrained" and is_model_class and _keyword(call, "use_safetensors") \
            is not True and not any(k.arg == "gguf_file" for k in call.keywords):
        problems.append(f"{name} without use_safetensors=True")
    if not peft_allowed and (name == "PeftModel.from_pretrained" or short == "load_adapter"):
        problems.append(f"{name} outside studio.engine.chat.adapters (weights unchecked)")
    return problems


def unsafe_loads(source: str, peft_allowed: bool = False) -> list[tuple[int, str]]:
    """(line, what) for every unsafe load or code execution in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found += [(node.lineno, p) for p in _import_problems(node)]
        elif isinstance(node, ast.Call):
            found += [(node.lineno, p) for p in _call_problems(node, peft_allowed)]
        elif isinstance(node, ast.Dict):  # {"trust_remote_code": True} handed on as kwargs
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "trust_remote_code" and \
                        isinstance(value, ast.Constant) and value.value is True:
                    found.append((node.lineno, "trust_remote_code=True"))
    return found


def test_the_studio_source_loads_nothing_unsafe():
    found = [f"{path.relative_to(ROOT)}:{line}: {what}"
             for path in sorted((ROOT / "studio").rglob("*.py"))
             for line, what in unsafe_loads(path.read_text(encoding="utf-8"), path == PEFT_HOME)]
    assert found == []


@pytest.mark.parametrize("code", [
    "import pickle",
    "from joblib import load",
    "torch.load(path)",
    "torch.load(path, weights_only=False)",
    "eval(text)",
    "exec(code)",
    "AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, use_safetensors=True)",
    "AutoModelForCausalLM.from_pretrained(folder)",
    "LlamaForCausalLM.from_pretrained(folder, use_safetensors=False)",
    "PeftModel.from_pretrained(model, folder)",
    "model.load_adapter(folder, adapter_name='a')",
    "pd.read_pickle(path)",
    "np.load(path, allow_pickle=True)",
    "kwargs = {'trust_remote_code': True}",
])
def test_the_scan_catches_each_unsafe_pattern(code):
    assert unsafe_loads(code), code


@pytest.mark.parametrize("code", [
    "torch.load(path, weights_only=True)",
    "model.eval()",
    "AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True)",
    "AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)",
    "AutoTokenizer.from_pretrained(folder)",
    "load_model(cfg.model, trust_remote_code=cfg.trust_remote_code)",
])
def test_the_scan_lets_safe_code_be(code):
    assert unsafe_loads(code) == []


# ---------------------------------------------------------------------------- Resume


@pytest.fixture()
def loads(monkeypatch):
    """Every ``torch.load`` made while the test runs: (file name, weights_only)."""
    seen, original = [], torch.load

    def recording(f, *args, **kwargs):
        seen.append((Path(str(f)).name, kwargs.get("weights_only")))
        return original(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", recording)
    return seen


def test_a_resumed_run_reads_its_checkpoint_weights_only(tmp_path, tiny_config, loads):
    store = RunStore(tmp_path / "runs")
    run = store.create(replace(tiny_config, max_steps=4, save_steps=2, probe_steps=0))
    assert run_training(run) == "completed"
    shutil.rmtree(run.checkpoints_dir / "checkpoint-4")  # as if the machine died after step 3
    run.update_status(state="interrupted")
    loads.clear()
    jobs = JobManager(store)
    jobs.resume(run.id)
    jobs.wait(120)
    status = run.status()
    assert status["state"] == "completed" and status["step"] == 4, status.get("error")
    names = {name for name, _ in loads}
    assert {"rng_state.pth", "optimizer.pt", "scheduler.pt"} <= names, loads
    assert [entry for entry in loads if entry[1] is not True] == []


# ---------------------------------------------------------------------------- pickle folders


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    with served_studio(tmp_path_factory.mktemp("ws"), tiny_model_dir, spares=1) as served:
        yield served


@pytest.fixture(scope="module")
def pickled(studio, tiny_model_dir):
    """In the workspace: a model folder and an adapter folder whose weights are pickles only."""
    model = Path(shutil.copytree(tiny_model_dir, studio.ws.root / "models" / "pickled"))
    pickle_weights(model, "pytorch_model.bin")
    run_adapter = studio.ctx.store.get(studio.run_id).adapter_dir
    adapter = copy_adapter(run_adapter, studio.ws.root / "adapters" / "pickled",
                           base=str(tiny_model_dir))
    pickle_weights(adapter, "adapter_model.bin")
    return model, adapter


def test_a_model_folder_of_pickle_weights_is_refused_by_name(studio, pickled, loads):
    import gradio_client

    model, _ = pickled
    before = fingerprint(model)
    with pytest.raises(ModelError, match="only as pytorch_model.bin, a pickle file"):
        load_model(str(model))
    client = gradio_client.Client(studio.url, verbose=False)
    out = ask(client, "Who are you?", model="models/pickled", mode="base")
    assert "only as pytorch_model.bin, a pickle file" in notice_of(out), notice_of(out)
    progress = score_until_over(client, model="models/pickled")
    assert "Failed" in progress and "pytorch_model.bin, a pickle file" in progress
    assert loads == [] and kept(before, fingerprint(model)) == {}  # nothing was unpickled
    assert_answers(studio)


def test_an_adapter_of_pickle_weights_is_refused_in_chat_scoring_and_export(studio, pickled,
                                                                            loads,
                                                                            tiny_model_dir):
    import gradio_client

    _, adapter = pickled
    before = fingerprint(adapter)
    client = gradio_client.Client(studio.url, verbose=False)
    out = ask(client, "Who are you?", adapter="adapters/pickled")
    assert "only as adapter_model.bin, a pickle file" in notice_of(out), notice_of(out)
    progress = score_until_over(client, model=str(tiny_model_dir), run="adapters/pickled")
    assert "Failed" in progress and "adapter_model.bin, a pickle file" in progress
    run = studio.spares[0]  # a run whose own adapter was saved as a pickle
    pickle_weights(run.adapter_dir, "adapter_model.bin")
    message, files = client.predict(run.id, "merged", "q8_0", "en", api_name="/deploy_export")
    assert "adapter_model.bin, a pickle file" in message and files is None
    assert not (studio.ws.root / "exports" / run.id / "merged").exists()
    assert loads == [] and kept(before, fingerprint(adapter)) == {}
    assert_answers(studio)


def assert_answers(studio) -> None:
    """The page answers the next question (in a fresh conversation)."""
    import gradio_client

    out = ask(gradio_client.Client(studio.url, verbose=False), "Who are you?", studio.run_id)
    assert notice_of(out) == "" and "Nova" in answer_of(out[1])


def score_until_over(client, model: str, run: str | None = None, timeout: float = 60) -> str:
    """Start scoring the sample exam on the Scoring tab and return the final progress text."""
    exam = "assets/sample-exam/en"
    client.predict("mmlu", exam, "all", "en", api_name="/scoring_subjects")
    message, job_id, *_ = client.predict("mmlu", exam, 0, "plain", 2, "float32", model, run, "",
                                         "en", ["general_science"], [], [], [],
                                         api_name="/scoring_start")
    assert job_id, message
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = client.predict(job_id, None, "en", api_name="/scoring_poll")[0]
        if any(word in progress for word in ("Done", "Stopped", "Failed")):
            return progress
        time.sleep(0.2)
    raise AssertionError("scoring never ended")
