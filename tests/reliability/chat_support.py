"""Shared pieces of the chat, scoring and export fault tests (``tests/reliability``).

``served_studio`` serves the whole studio on a fresh workspace holding one finished identity run
of the tiny model (a real LoRA adapter) and as many spare runs as asked for (listed in the
pickers from the start, for tests that then break them); the tiny model's folder alone is allowed
at launch, so a sibling temporary folder is outside the workspace. ``fingerprint`` hashes every
file under a folder, so a test can show a fault changed nothing a person had; ``ask`` is one Send
on the Chat tab's API and ``notice_of`` / ``answer_of`` read what the page shows back. ``damage``
breaks a run's adapter the ways a disk or a person does: a deleted folder, a garbled tokenizer,
truncated weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from studio.engine.runs import RunStore
from studio.engine.workspace import Workspace
from tests.test_chat import make_identity_run
from tests.ui_server import launch_studio

TOKEN = "hf_TESTTOKEN1234567890abcdefSECRET"  # never a real token; unique enough to grep for


@dataclass
class Studio:
    ws: Workspace
    url: str
    run_id: str
    ctx: object  # the app's StudioContext (device, store, chat engine)
    spares: list  # more finished runs (Run objects), each for one test to break


@contextlib.contextmanager
def served_studio(root: Path, tiny_model_dir: Path, spares: int = 0):
    """A studio serving ``root`` with one identity run; one torch thread (the tiny model is all
    overhead, and a second thread only spins on a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    ws = Workspace(root, [tiny_model_dir])  # the model alone: its neighbours stay outside
    store = RunStore(ws.runs_dir)
    extra = [make_identity_run(store, tiny_model_dir, steps=1) for _ in range(spares)]
    run = make_identity_run(store, tiny_model_dir, steps=30)  # the newest: the pickers' default
    demo, url = launch_studio(ws)
    try:
        yield Studio(ws, url, run.id, demo.studio_ctx, extra)
    finally:
        if demo.studio_ctx.server is not None:
            demo.studio_ctx.server.stop()
        demo.close()
        torch.set_num_threads(before)


def fingerprint(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    root = Path(root)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def kept(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Files of ``before`` that changed or vanished in ``after`` (empty when all were kept)."""
    return {k: v for k, v in before.items() if after.get(k) != v}


def ask(client, text: str, run_id: str = "", adapter: str = "", model: str = "",
        mode: str = "side", max_new: int = 32, temperature: float = 0.0, seed: int = 0):
    """One Send on the Chat tab: (left, right, box, vote note, stats, notice)."""
    return client.predict(text, mode, run_id, adapter, model, "", max_new, temperature, 1, 0, 1,
                          seed, "en", api_name="/chat_send")


def submit(client, text: str, run_id: str, max_new: int = 400):
    """A streamed Send (sampled, so the tiny model keeps writing) as a gradio_client job."""
    return client.submit(text, "side", run_id, "", "", "", max_new, 1.0, 1, 0, 1, 0, "en",
                         api_name="/chat_send")


def notice_of(out) -> str:
    notice = out[-1]
    if isinstance(notice, dict):
        return (notice.get("value") or "") if notice.get("visible", True) else ""
    return notice or ""


def answer_of(pane) -> str:
    if not pane:
        return ""
    content = pane[-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def damage(run_dir: Path, how: str) -> None:
    """Break the run's adapter: ``deleted``, ``tokenizer`` (garbled JSON) or ``weights``
    (truncated safetensors)."""
    adapter = Path(run_dir) / "adapter"
    if how == "deleted":
        shutil.rmtree(adapter)
    elif how == "tokenizer":
        (adapter / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    elif how == "weights":
        weights = adapter / "adapter_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:40])
    else:
        raise ValueError(how)


def copy_adapter(src: Path, dst: Path, base: str | None = None) -> Path:
    """A copy of an adapter folder, its ``base_model_name_or_path`` set to ``base`` if given."""
    shutil.copytree(src, dst)
    if base is not None:
        path = dst / "adapter_config.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base
        path.write_text(json.dumps(config), encoding="utf-8")
    return dst


def pickle_weights(folder: Path, name: str) -> None:
    """Replace the folder's safetensors weights by a pickle file ``name`` (what an old
    ``torch.save`` or ``save_pretrained(safe_serialization=False)`` leaves)."""
    from safetensors.torch import load_file

    (weights,) = sorted(Path(folder).glob("*.safetensors"))
    torch.save(load_file(str(weights)), Path(folder) / name)
    weights.unlink()
