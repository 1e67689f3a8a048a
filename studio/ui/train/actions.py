"""What the Train tab's buttons do, apart from the layout: checks, estimate text, headless command.

Every function takes plain values and a translator, returns plain text, and turns the engine's
user errors into messages that name the field in the page's language, so a bad form can never
raise out of a handler. The headless command is the preset plus ``--set`` for every field the
form changed, and the full YAML beside it: either one replays the run with ``studio train``.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from studio.engine.data.store import resolve_source
from studio.engine.errors import USER_ERRORS
from studio.engine.train.config import FIELDS, TrainConfig, dump_yaml, load_yaml, to_dict, validate
from studio.engine.workspace import Workspace
from studio.ui.charts import fmt_seconds

# validate()'s English patterns -> translation keys, so Chinese pages read Chinese reasons.
REASONS = [
    (re.compile(r"must be one of (?P<a>.+), got (?P<b>.+)$"), "train.err.one_of"),
    (re.compile(r"must be >= (?P<a>\S+), got (?P<b>.+)$"), "train.err.ge"),
    (re.compile(r"must be > (?P<a>\S+), got (?P<b>.+)$"), "train.err.gt"),
    (re.compile(r"must be <= (?P<a>\S+), got (?P<b>.+)$"), "train.err.le"),
    (re.compile(r"must not be empty$"), "train.err.empty"),
    (re.compile(r"must be a (?P<a>\w+), got (?P<b>.+)$"), "train.err.type"),
]


def error_fields(messages: list[str]) -> list[str]:
    return [m.split(" ", 1)[0] for m in messages if m.split(" ", 1)[0] in FIELDS]


def format_errors(tr, lang: str, messages: list[str]) -> str:
    """Markdown: a heading and one bullet per problem, the field's label in bold."""
    lines = [f"### ⚠ {tr.t('train.msg.fix_fields', lang, n=len(messages))}"]
    for msg in messages:
        name, _, rest = msg.partition(" ")
        if name not in FIELDS:
            lines.append(f"- {msg}")
            continue
        reason = rest
        for pattern, key in REASONS:
            match = pattern.search(rest)
            if match:
                reason = tr.t(key, lang, **match.groupdict())
                break
        label = tr.t(f"field.{name}.label", lang)
        lines.append(f"- **{label}** (`{name}`): {reason}")
    return "\n".join(lines)


def user_error(tr, lang: str, exc: BaseException) -> str:
    """One plain-words line for an engine error (the message is the engine's own)."""
    errors = getattr(exc, "errors", None)
    if errors:
        return format_errors(tr, lang, errors)
    return f"### ⚠ {tr.t('msg.error', lang)}\n{exc}"


def dataset_path(workspace: Workspace, cfg: TrainConfig) -> str:
    """The dataset a browser user named, resolved inside the workspace (or a hub id)."""
    return resolve_source(workspace, cfg.dataset)


def problems(workspace: Workspace, cfg: TrainConfig) -> list[str]:
    """Every reason the form cannot start: validate() plus a dataset that cannot be found."""
    errors = validate(cfg)
    try:
        dataset_path(workspace, cfg)
    except USER_ERRORS as exc:
        errors.append(f"dataset {exc}")
    try:
        workspace.model_source(cfg.model)
    except USER_ERRORS as exc:
        errors.append(f"model {exc}")
    return errors


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
        return f"# save the YAML below as my-run.yaml, then:\nstudio train {source}", yaml_text
    old, new = to_dict(base), to_dict(cfg)
    sets = [f"--set {shlex.quote(f'{k}={_set_value(v)}')}" for k, v in new.items()
            if old.get(k) != v]
    return " \\\n  ".join([f"studio train {shlex.quote(source)}", *sets]), yaml_text


def _display_path(path: str) -> str:
    p = Path(path)
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if p.is_relative_to(root):
            return str(p.relative_to(root))
    return str(p)
