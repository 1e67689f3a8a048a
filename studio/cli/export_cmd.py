"""``studio export RUN [OUT]``: a finished run as a merged model, an adapter zip or a GGUF file.

``--format merged`` (the default) writes a standalone safetensors folder with the LoRA folded in
and a model card; ``adapter`` the LoRA adapter as a zip; ``gguf`` one file for llama.cpp, Ollama
and LM Studio (``--quant``, q8_0 by default) with an Ollama ``Modelfile`` beside it. Without
``OUT`` the export goes where the Deploy tab puts it, ``exports/<run>/``. ``RUN`` may also be a
base model id for a GGUF of the model itself.
"""

from __future__ import annotations

from pathlib import Path

from studio.cli import runs_dir_option
from studio.engine.runs import RunStore, is_run_folder


def register(sub) -> None:
    p = sub.add_parser("export", help="save a run as a merged model, adapter zip or GGUF file")
    p.add_argument("run", help="run id or run folder (or a base model id, with --format gguf)")
    p.add_argument("output", nargs="?", default=None,
                   help="folder (merged) or file (adapter .zip, .gguf) to write; default: "
                        "exports/<run>/")
    p.add_argument("--format", default="merged", choices=["merged", "adapter", "gguf"])
    p.add_argument("--quant", default="q8_0", help="GGUF precision: f16, q8_0, q4_0, ...")
    runs_dir_option(p)
    p.add_argument("--exports-dir", default="exports", help="where exports go without OUT")
    p.set_defaults(func=export)


def export(args) -> int:
    from studio.engine.export import deploy

    source = _source(args.run, args.runs_dir)
    if args.output is None:
        done = deploy.export(args.format, source, args.exports_dir, args.quant)
    elif args.format == "merged":
        done = deploy.merged(source, Path(args.output))
    elif args.format == "adapter":
        done = deploy.adapter(deploy.require_run(source, "adapter"), Path(args.output))
    else:
        done = deploy.gguf_file(source, Path(args.output), args.quant)
    print(f"{'already exported' if done.reused else 'exported'}: {done.path}")
    if done.kind == "gguf":
        name = done.path.stem.lower()
        print(f"ollama: cd {done.path.parent} && ollama create {name} -f Modelfile")
    return 0


def _source(run: str, runs_dir: str):
    """A run for a run id or folder, else the text as a base model id."""
    if is_run_folder(run) or (Path(runs_dir) / run).is_dir():
        return RunStore(runs_dir).resolve(run)
    return run
