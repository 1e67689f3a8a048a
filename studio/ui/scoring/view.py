"""What the Scoring tab shows and resolves, apart from its layout: pure functions of the context.

Picker choices and subject lists; what a person typed turned into data folders, model ids and the
sides of a comparison (paths only inside the workspace, an adapter folder's declared base model
too); and the result views: the subject/category table with deltas, the chart's frame, the run's
score history and the progress bar. A stopped side's scores are labelled partial everywhere they
appear, never passed off as final. Functions that return text take the page language, so a
language switch re-renders them.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.engine.chat.adapters import allowed_base, in_store
from studio.engine.errors import EvalDataError, PathError, Reason
from studio.engine.models import load_tokenizer
from studio.engine.runs import is_run_folder
from studio.engine.scoring import data as exams
from studio.engine.scoring import results as saved_results
from studio.engine.scoring.job import Side, base_vs_tuned
from studio.ui import charts
from studio.ui.i18n import said as in_every_lang

SAMPLES = {"mmlu": "assets/sample-exam/en", "ceval": "assets/sample-exam/zh", "cmmlu": ""}
CAT_KEYS = {"STEM": "stem", "Humanities": "humanities", "Social Sciences": "social",
            "Other": "other"}
HISTORY_COLUMNS = ("time", "benchmark", "split", "shots", "format", "model", "n", "acc")


def say(lang: str, render=None) -> tuple[str, dict[str, str]]:
    """A message in ``lang`` and in every language (``render(lang)``; none: no message), the
    second kept in a ``gr.State`` so a language switch shows the message again, translated."""
    said = in_every_lang(render) if render else {}
    return said.get(lang, said.get("en", "")), said


def quick_choices(ctx, lang: str) -> list[tuple[str, str]]:
    return [(ctx.t("scoring.quick.all", lang), "all"),
            *((ctx.t(f"scoring.cat.{slug}", lang), cat) for cat, slug in CAT_KEYS.items()),
            (ctx.t("scoring.quick.none", lang), "none")]


def runs_with_weights(ctx) -> list[str]:
    return [r.id for r in ctx.store.list() if r.weights_dir() is not None]


def resolve_data_dir(ctx, text: str) -> Path | None:
    """The user's folder through the workspace; empty means the hub copy."""
    return ctx.workspace.resolve(text) if (text or "").strip() else None


def resolve_model(ctx, text: str) -> str:
    return ctx.workspace.model_source(text)


@functools.lru_cache(maxsize=4)
def cached_tokenizer(model_id: str):
    return load_tokenizer(model_id)


def subject_updates(ctx, bench: str, data_dir: str, quick: str = "all") -> list:
    subjects = exams.list_subjects(bench, resolve_data_dir(ctx, data_dir))
    updates = []
    for cat in CAT_KEYS:
        keys = [s for s in subjects if s.category == cat]
        chosen = [s.key for s in keys if quick in ("all", cat)]
        updates.append(gr.update(choices=[(f"{s.key} · {s.name}" if s.name.replace(" ", "_")
                                           != s.key else s.key, s.key) for s in keys],
                                 value=chosen))
    return updates


def initial_subjects(ctx) -> list[dict]:
    """Choices and values of the category groups for the default sample exam."""
    try:
        return [{"choices": u["choices"], "value": u["value"]}
                for u in subject_updates(ctx, "mmlu", SAMPLES["mmlu"])]
    except (EvalDataError, PathError):
        return [{"choices": [], "value": []} for _ in CAT_KEYS]


def picked_subjects(groups) -> list[str]:
    return [key for group in groups for key in (group or [])]


def comparison_sides(ctx, model: str, run: str | None, other: str) -> list[Side]:
    runs_dir = str(ctx.store.root)
    if run:
        base = None
        if Path(run).name != run or not is_run_folder(ctx.store.root / run):
            typed, run = run, str(ctx.workspace.resolve(run))  # only inside the workspace
            if not in_store(run, ctx.store):  # and so is the base a foreign adapter names
                base = allowed_base(run, ctx.workspace, typed)
        model = resolve_model(ctx, model) if model else base
        return base_vs_tuned(model, run, runs_dir)
    sides = [Side(Path(model).name or model, resolve_model(ctx, model))]
    if (other or "").strip():
        sides.append(Side(Path(other).name or other, resolve_model(ctx, other)))
        if sides[0].label == sides[1].label:
            sides[0].label, sides[1].label = "A", "B"
    return sides


def shown_label(ctx, lang: str, label: str, result: dict) -> str:
    """A side's name as the page shows it: marked partial when the side was stopped."""
    if not result.get("stopped"):
        return label
    return ctx.tr.reason(Reason("scoring_partial_label", {"label": label}), lang)


def partial_notice(ctx, lang: str, snap: dict) -> str:
    """What a stopped job's progress bar says under it: the scores are partial."""
    return ctx.tr.reason(Reason("scoring_partial", {"done": snap["done"],
                                                    "total": snap["total"]}), lang)


def place_name(ctx, lang: str, level: str, name: str) -> str:
    """A row's name as the page shows it: categories and the overall row in ``lang``; subjects
    keep their own keys (they are the exam's names, the same in any language)."""
    if level == "subject":
        return name
    if name in CAT_KEYS:
        return ctx.t(f"scoring.cat.{CAT_KEYS[name]}", lang)
    return ctx.t("scoring.level.overall", lang) if name == "overall" else name


def result_table(ctx, lang: str, results: dict) -> pd.DataFrame:
    names = [shown_label(ctx, lang, k, r) for k, r in results.items()]
    labels = list(results)
    t = functools.partial(ctx.t, lang=lang)
    head = [t("scoring.col.level"), t("scoring.col.name"), t("scoring.col.n")]
    if len(labels) == 2:
        rows = saved_results.compare(results[labels[0]], results[labels[1]])
        data = [[t(f"scoring.level.{r['level']}"), place_name(ctx, lang, r["level"], r["name"]),
                 r["n"], pct(r["acc_a"]), pct(r["acc_b"]), f"{100 * r['delta']:+.1f}"]
                for r in rows]
        return pd.DataFrame(data, columns=[*head, names[0], names[1], "Δ"])
    if not labels:
        return pd.DataFrame(columns=head)
    r = results[labels[0]]
    data = [[t("scoring.level.subject"), k, s["n"], pct(s["acc"])]
            for k, s in r["subjects"].items()]
    data += [[t("scoring.level.category"), place_name(ctx, lang, "category", k), s["n"],
              pct(s["acc"])] for k, s in r["categories"].items()]
    data.append([t("scoring.level.overall"), place_name(ctx, lang, "overall", "overall"),
                 r["overall"]["n"], pct(r["overall"]["acc"])])
    return pd.DataFrame(data, columns=[*head, names[0]])


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def chart_frame(ctx, lang: str, results: dict) -> pd.DataFrame:
    """Accuracy by category and overall, one bar per model, neighbours side by side."""
    rows = []
    for key, r in results.items():
        label = shown_label(ctx, lang, key, r)
        parts = {**{k: c for k, c in r["categories"].items()}, "overall": r["overall"]}
        rows += [{"bar": f"{place_name(ctx, lang, 'category', cat)} · {label}", "cat": cat,
                  "accuracy": round(100 * c["acc"], 1), "model": label}
                 for cat, c in parts.items()]
    order = list(dict.fromkeys(row["cat"] for row in rows))
    models = list(dict.fromkeys(row["model"] for row in rows))
    rows.sort(key=lambda row: (order.index(row["cat"]), models.index(row["model"])))
    return pd.DataFrame(rows, columns=["bar", "cat", "accuracy", "model"])


def history_frame(ctx, run: str | None, lang: str = "en") -> pd.DataFrame:
    folder = ctx.store.root / Path(run).name / "eval" if run else ctx.workspace.root / "eval"
    rows = [[time.strftime("%Y-%m-%d %H:%M", time.localtime(h["created_at"] or 0)),
             h["benchmark"], h["split"], h["shots"], h["format"],
             shown_label(ctx, lang, h["label"], h), h["n"], pct(h["acc"])]
            for h in saved_results.history(folder)] if folder.is_dir() else []
    return pd.DataFrame(rows, columns=[ctx.t(f"scoring.hist.{c}", lang) for c in HISTORY_COLUMNS])


def progress_html(ctx, lang: str, snap: dict) -> str:
    state = {"done": "completed"}.get(snap["state"], snap["state"])
    status = {"state": state, "step": snap["done"], "total_steps": snap["total"],
              "elapsed_s": snap["elapsed_s"], "error": snap["error"]}
    texts = {"state": ctx.t(f"scoring.state.{snap['state']}", lang),
             "step": snap["current"] or ctx.t("scoring.progress.questions", lang),
             "elapsed": ctx.t("train.progress.elapsed", lang),
             "eta": ctx.t("train.progress.eta", lang)}
    return charts.progress_html(status, texts)
