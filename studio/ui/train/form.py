"""The Train form, generated from ``TrainConfig``: one component per field, grouped like them.

Each field's type and metadata pick its component (checkbox, radio, dropdown, number with its
range, a multi-line box for lists); label and help text come from the translation table, whose
English help is the dataclass's own. ``FORM_FIELDS`` fixes the order in which handlers receive
and return values, so ``values_to_config`` and ``config_to_values`` are exact inverses. Fields
marked ``operator`` (running the model's own code) are not in the form at all, so no request to
the page's API can set them: the handlers fill them from the operator's launch flags.
"""

from __future__ import annotations

import gradio as gr

from studio.engine.errors import ConfigError, Reason
from studio.engine.models import known_models
from studio.engine.train.config import (
    FIELDS,
    OPERATOR_FIELDS,
    TrainConfig,
    field_type,
    from_dict,
)

FORM_FIELDS = [name for name in FIELDS if name not in OPERATOR_FIELDS]
RADIO_FIELDS = ("method", "finetuning_type")
WIDE_FIELDS = ("model", "dataset", "system_prompt", "probe_prompts", "lora_target")
OPEN_GROUPS = ("model", "data", "method", "rewards", "lora", "training")
GROUP_ORDER = ("model", "data", "method", "rewards", "lora", "training", "check", "launch",
               "advanced")


def _component(ctx, name: str, choices: dict[str, list[str]]):
    meta, kind = FIELDS[name].metadata, field_type(name)
    texts = {"label": f"field.{name}.label", "info": f"field.{name}.help"}
    default = getattr(TrainConfig(), name)
    common = {"elem_id": f"train-{name.replace('_', '-')}", "value": default}
    if meta["methods"]:  # shown for the default method's fields only, until the method changes
        common["visible"] = TrainConfig().method in meta["methods"]
    if name in choices:
        return ctx.tr(gr.Dropdown, texts=texts, choices=choices[name], allow_custom_value=True,
                      **common)
    if meta["choices"] and name in RADIO_FIELDS:
        return ctx.tr(gr.Radio, texts=texts, choices=meta["choices"], **common)
    if meta["choices"]:
        return ctx.tr(gr.Dropdown, texts=texts, choices=meta["choices"], **common)
    if kind is bool:
        return ctx.tr(gr.Checkbox, texts=texts, **common)
    if kind in (int, float):
        # Ranges are checked by validate(), not gr.Number's minimum/maximum: Gradio's own check
        # fails before any handler with a message that does not say which field is wrong.
        return ctx.tr(gr.Number, texts=texts, precision=0 if kind is int else None, **common)
    if kind is list:
        common["value"] = "\n".join(default)
        return ctx.tr(gr.Textbox, texts=texts, lines=3, **common)
    return ctx.tr(gr.Textbox, texts=texts, lines=1, **common)


def _group_fields(group: str) -> list[str]:
    return [n for n in FORM_FIELDS if FIELDS[n].metadata["group"] == group]


def build_form(ctx, datasets: list[str], runs: list[str] = ()) -> tuple[dict, dict]:
    """Create the form inside the current layout; returns (field -> component, group -> box).
    ``runs`` are the finished LoRA runs a new run can start from."""
    choices = {"model": known_models(), "dataset": datasets, "start_from": ["", *runs]}
    form, boxes = {}, {}
    for group in GROUP_ORDER:
        box = ctx.tr(gr.Accordion, texts={"label": f"train.group.{group}"},
                     open=group in OPEN_GROUPS, elem_id=f"train-group-{group}",
                     visible=group != "rewards")  # GRPO's; sft is the default method
        with box:
            names = _group_fields(group)
            wide = [n for n in names if n in WIDE_FIELDS]
            for name in wide:
                form[name] = _component(ctx, name, choices)
            radios = [n for n in names if n in RADIO_FIELDS]
            if radios:
                with gr.Row(equal_height=True):
                    for name in radios:
                        form[name] = _component(ctx, name, choices)
            narrow = [n for n in names if n not in WIDE_FIELDS and n not in RADIO_FIELDS]
            for i in range(0, len(narrow), 3):  # three short fields a row fits a laptop screen
                with gr.Row(equal_height=True):
                    for name in narrow[i:i + 3]:
                        form[name] = _component(ctx, name, choices)
        boxes[group] = box
    return {n: form[n] for n in FORM_FIELDS}, boxes


def values_to_config(values) -> TrainConfig:
    """The form's values (in FORM_FIELDS order) as a TrainConfig; ConfigError lists bad fields."""
    data, errors = {}, []
    for name, value in zip(FORM_FIELDS, values):
        if value is None or (value == "" and field_type(name) in (int, float)):
            errors.append(Reason("field_empty", {"field": name}))
            continue
        data[name] = value
    if errors:
        raise ConfigError(errors)
    cfg_errors = []
    for name, value in data.items():  # coerce each field so every bad one is reported at once
        try:
            from_dict({name: value})
        except ConfigError as exc:
            cfg_errors.extend(exc.reasons)
    if cfg_errors:
        raise ConfigError(cfg_errors)
    return from_dict(data)


def config_to_values(cfg: TrainConfig) -> list:
    return [("\n".join(v) if isinstance(v, list) else v)
            for v in (getattr(cfg, n) for n in FORM_FIELDS)]


# Fields that mean something only for some methods (their ``methods`` metadata) and a few more
# that some methods ignore: the form shows each only when it applies.
METHOD_FIELDS = tuple(n for n in FORM_FIELDS if FIELDS[n].metadata["methods"]
                      and FIELDS[n].metadata["group"] != "rewards")
VISIBILITY_FIELDS = ("freeze_trainable_layers", "assistant_only_loss", "system_prompt",
                     *METHOD_FIELDS)


def visibility(method: str, finetuning_type: str) -> tuple:
    """The LoRA box, the rewards box (GRPO), then ``VISIBILITY_FIELDS``, each shown only when it
    applies: pt trains every token of plain text, so neither the answers-only switch nor the
    system prompt does; preference methods and GRPO learn whole answers, not masked turns."""
    return (gr.update(visible=finetuning_type in ("lora", "qlora")),
            gr.update(visible=method == "grpo"),
            gr.update(visible=finetuning_type == "freeze"),
            gr.update(visible=method == "sft"),
            gr.update(visible=method != "pt"),
            *(gr.update(visible=method in FIELDS[n].metadata["methods"]) for n in METHOD_FIELDS))
