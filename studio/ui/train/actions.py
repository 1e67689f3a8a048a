"""What the Train tab's buttons do, apart from the layout: checks, estimate text, headless command.

Every function takes plain values and a translator, returns plain text, and turns the engine's
user errors (coded ``Reason``s) into messages that name the field in the page's language, so a
bad form can never raise out of a handler. The headless command is the preset plus ``--set`` for
every field the form changed, and the full YAML beside it: either one replays the run with
``studio train``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from studio.engine.data.store import resolve_source
from studio.engine.errors import USER_ERRORS, ConfigError, Reason, reason_of
from studio.engine.scoring import forgetting
from studio.engine.train import preflight
from studio.engine.train.config import FIELDS, TrainConfig, dump_yaml, load_yaml, to_dict, validate
from studio.engine.workspace import Workspace
from studio.ui.charts import fmt_seconds


def format_errors(tr, lang: str, reasons: list[Reason]) -> str:
    """Markdown: a heading and one bullet per problem, the field's label in bold."""
    lines = [f"### ⚠ {tr.t('train.msg.fix_fields', lang, n=len(reasons))}"]
    for reason in reasons:
        name = reason.params.get("field")
        if name not in FIELDS:
            lines.append(f"- {tr.reason(reason, lang)}")
            continue
        label = f"**{tr.t(f'field.{name}.label', lang)}**"
        named = Reason(reason.code, {**reason.params, "field": label})
        lines.append(f"- {tr.reason(named, lang)} (`{name}`)")
    return "\n".join(lines)


def user_error(tr, lang: str, exc: BaseException) -> str:
    """A Markdown message for an engine error, in the page's language."""
    if isinstance(exc, ConfigError):
        return format_errors(tr, lang, exc.reasons)
    return f"### ⚠ {tr.t('msg.error', lang)}\n{tr.error(exc, lang)}"


def dataset_path(workspace: Workspace, cfg: TrainConfig) -> str:
    """The dataset a browser user named, resolved inside the workspace (or a hub id)."""
    return resolve_source(workspace, cfg.dataset)


def exam_dirs(workspace: Workspace, cfg: TrainConfig, strict: bool = True) -> dict | None:
    """The forgetting check's exam folders a browser user named, through the workspace's rules;
    None when the check is off, or (``strict`` off, for a resume) when one cannot be found: the
    check then looks for itself and its card says what is missing."""
    if not cfg.forgetting_check:
        return None
    try:
        return forgetting.exam_dirs(cfg, resolve=workspace.resolve)
    except USER_ERRORS:
        if strict:
            raise
        return None


def workspace_problems(workspace: Workspace, cfg: TrainConfig) -> list[Reason]:
    """A dataset, model or exam folder the browser user named that is not in the workspace (or,
    for the first two, on the hub)."""
    errors = []
    finds = [("dataset", lambda: dataset_path(workspace, cfg)),
             ("model", lambda: workspace.model_source(cfg.model))]
    if cfg.forgetting_check:
        finds += [(name, lambda name=name: workspace.resolve(getattr(cfg, name)))
                  for name in forgetting.EXAMS.values() if getattr(cfg, name).strip()]
    for name, find in finds:
        try:
            find()
        except USER_ERRORS as exc:
            errors.append(Reason("field_problem", {"field": name, "reason": reason_of(exc)}))
    return errors


def problems(workspace: Workspace, cfg: TrainConfig, deep: bool = True) -> list[Reason]:
    """Every reason the form cannot start: the fields, the workspace's rules, then (``deep``)
    the preflight's look at the model, the data and the memory."""
    errors = workspace_problems(workspace, cfg)
    if errors or not deep:
        return validate(cfg) + errors
    return preflight.problems(cfg, dataset_path(workspace, cfg), exam_dirs(workspace, cfg))


def estimate_text(tr, lang: str, est: dict) -> str:
    """The estimate as a short Markdown block, clearly labelled as an estimate."""
    basis = (tr.t("train.est.measured", lang, run=est["measured_from"]) if est["measured_from"]
             else tr.t("train.est.heuristic", lang))
    skipped = tr.t("train.est.skipped", lang, n=est["skipped"]) if est["skipped"] else ""
    return "\n".join([
        f"**{tr.t('train.est.title', lang)}**",
        tr.t("train.est.data", lang, rows=est["rows"], tokens=est["mean_tokens"]) + skipped,
        tr.t("train.est.steps", lang, steps=est["steps"]),
        tr.t("train.est.time", lang, time=fmt_seconds(est["seconds"])) + f" ({basis})",
        tr.t("train.est.memory", lang, gb=f"{max(est['memory_gb'], 0.1):.1f}"),
        tr.t("train.est.params", lang, trainable=_millions(est["trainable"]),
             total=_millions(est["params"])),
    ]).replace("\n", "  \n")


def _millions(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}K"


def _set_value(value) -> str:
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def headless(cfg: TrainConfig, preset: str | None) -> tuple[str, str]:
    """(shell command, YAML): the preset plus --set for changed fields, and the full config."""
    yaml_text = dump_yaml(cfg, "Fine-Tune Studio run config: studio train this-file.yaml")
    base, source = TrainConfig(), "my-run.yaml"
    if preset:
        try:
            base = load_yaml(preset)
            source = _display_path(preset)
        except USER_ERRORS:
            pass
    if not preset:
        command = f"# save the YAML below as my-run.yaml, then:\nstudio train {source}"
    else:
        old, new = to_dict(base), to_dict(cfg)
        sets = [f"--set {shlex.quote(f'{k}={_set_value(v)}')}" for k, v in new.items()
                if old.get(k) != v]
        command = " \\\n  ".join([f"studio train {shlex.quote(source)}", *sets])
    return command + _other_nodes(cfg), yaml_text


def _other_nodes(cfg: TrainConfig) -> str:
    """For a run on several nodes: what to start on each of the others, once it has begun."""
    from studio.engine.train.launch import node_commands

    lines = node_commands("runs/<run-id>", cfg)
    if not lines:
        return ""
    head = ("\n\n# then, on each other node (the run folder on shared storage at the same "
            "path; <run-id> is the folder this run creates):")
    return head + "".join(f"\n{line}" for line in lines)


def _display_path(path: str) -> str:
    p = Path(path)
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if p.is_relative_to(root):
            return str(p.relative_to(root))
    return str(p)
