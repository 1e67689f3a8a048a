"""``--engine vllm``: the same endpoint served by vLLM on a GPU, the runs as its LoRA adapters.

vLLM is an optional extra (CUDA only), so it is started as its own ``vllm serve`` process with
the options the studio would have used: the base model's folder under the same name the studio
lists, every finished LoRA run of that base as a ``--lora-modules name=folder`` entry (so clients
ask for a run by the same id either way), the API key and the bind address. Full fine-tunes are
whole models, which one vLLM process cannot add beside its base; they are left out and named.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

from studio.engine.errors import ServeError
from studio.engine.models import resolve_model


def vllm_command(options, registry) -> tuple[list[str], list[str]]:
    """The ``vllm serve`` command line, and the ids of runs it cannot serve (full fine-tunes)."""
    entries = registry.entries()
    loras = [e for e in entries if e.kind == "lora"]
    cmd = [shutil.which("vllm") or "vllm", "serve", resolve_model(options.model),
           "--served-model-name", registry.base_name, "--host", options.host,
           "--port", str(options.port), "--dtype", "auto"]
    if options.api_key:
        cmd += ["--api-key", options.api_key]
    if loras:
        rank = max(_rank(e.target.adapter_dir) for e in loras)
        cmd += ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", str(len(loras)),
                "--lora-modules", *[f"{e.name}={e.target.adapter_dir}" for e in loras]]
    return cmd, [e.name for e in entries if e.kind == "full"]


def launch_vllm(options, registry) -> subprocess.Popen:
    """Start vLLM (it prints its own log); refuse plainly where it cannot run."""
    if importlib.util.find_spec("vllm") is None:
        raise ServeError("serve_vllm_missing")
    import torch

    if not torch.cuda.is_available():
        raise ServeError("serve_vllm_needs_gpu")
    cmd, skipped = vllm_command(options, registry)
    for name in skipped:
        print(f"note: {name} is a full fine-tune; vLLM serves it alone with "
              f"`vllm serve <its model folder>`", file=sys.stderr)
    return subprocess.Popen(cmd)


def _rank(folder) -> int:
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    return int(config.get("r", 8))
