"""``studio export RUN OUT``: a finished run as a standalone model folder (LoRA merged in)."""

from __future__ import annotations

from studio.engine.runs import RunStore


def register(sub) -> None:
    p = sub.add_parser("export", help="save a run's model as a standalone folder (LoRA merged)")
    p.add_argument("run", help="run id or run folder")
    p.add_argument("output", help="new folder to write")
    p.add_argument("--runs-dir", default="runs")
    p.set_defaults(func=export)


def export(args) -> int:
    from studio.engine.export.merge import export_run

    run = RunStore(args.runs_dir).resolve(args.run)
    out = export_run(run, args.output)
    print(f"exported: {out}")
    return 0
