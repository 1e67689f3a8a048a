"""TrainConfig: the one source of truth for a training run.

Every field carries its default, help text, form group and allowed range or choices in its
metadata. The Train form, the presets, the CLI's ``--set`` and the YAML in a run folder are all
derived from this dataclass, so no default or limit lives twice. ``validate`` returns a coded
``Reason`` per refused value, naming the field (``{field, op, bound, got}`` for a range), so every
front end can say why in its own language. TRL's own configs are built from this one in exactly
one place (``studio.engine.train.args``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from studio.engine.errors import ConfigError, Reason

GROUPS = ("model", "data", "method", "rewards", "lora", "training", "check", "launch",
          "advanced")
# Methods by the data they learn from: chosen/rejected pairs, or (KTO) answers labelled good or
# bad one by one (pairs are split into one good and one bad answer); GRPO needs only prompts
# and scores its own sampled answers with reward rules (studio.engine.train.rewards).
PAIR_METHODS = ("dpo", "orpo", "simpo")
PREFERENCE_METHODS = (*PAIR_METHODS, "kto")
METHODS = ["sft", *PREFERENCE_METHODS, "grpo", "pt"]


def _f(default, help, group, *, min=None, max=None, choices=None, min_exclusive=False,
       operator=False, methods=None):
    """A dataclass field with the metadata the form, the CLI and validation read.

    ``operator`` marks a field only the person running the server may set (a launch flag, the
    CLI, a config file): the Train form neither shows nor accepts it. ``methods`` names the
    methods a field means something for; the form shows it only for them.
    """
    meta = {"help": help, "group": group, "min": min, "max": max, "choices": choices,
            "min_exclusive": min_exclusive, "operator": operator, "methods": methods}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    # --- model
    model: str = _f("smollm2-135m-instruct",
                    "Model to fine-tune: the bundled model, a local folder or a hub id.", "model")
    trust_remote_code: bool = _f(False, "Run Python code shipped with the model. Only for "
                                 "models you trust; in the studio the operator decides "
                                 "(--trust-remote-code MODEL at launch).", "model",
                                 operator=True)
    # --- data
    dataset: str = _f("assets/identity.json", "Training data: a json, jsonl, csv, parquet, txt or "
                      "md file in the workspace, or a hub dataset id.", "data")
    dataset_split: str = _f("train", "Split to read from a hub dataset.", "data")
    text_split: str = _f("document", "How a .txt or .md file becomes rows: document (the whole "
                         "file is one row) or paragraph (one row per blank-line-separated "
                         "paragraph).", "data", choices=["document", "paragraph"])
    max_samples: int = _f(0, "Use at most this many rows (0 = all).", "data", min=0)
    val_fraction: float = _f(0.0, "Share of rows held out to measure eval loss (0 = none).",
                             "data", min=0.0, max=0.5)
    name: str = _f("", "Fills {{name}} in the data (the identity demo's new model name).", "data")
    author: str = _f("", "Fills {{author}} in the data (who made the model).", "data")
    system_prompt: str = _f("", "System prompt added to rows that have none (empty = the "
                            "template's default).", "data")
    # --- method
    method: str = _f("sft", "Training method: supervised fine-tuning on conversations (sft); "
                     "preference optimization on chosen/rejected pairs (dpo, orpo, simpo) or on "
                     "answers labelled good or bad (kto); grpo, where the model samples answers "
                     "and reward rules score them; or continued pre-training on plain text "
                     "(pt: every token is learned, no chat template).", "method",
                     choices=METHODS)
    start_from: str = _f("", "Continue a finished LoRA run (its id): its adapter keeps learning "
                         "with this method, e.g. DPO after SFT, and its answers are the "
                         "starting point the new run is compared with. Empty = start from "
                         "the model.", "method")
    finetuning_type: str = _f("lora", "lora trains small adapters; qlora does so on a 4-bit "
                              "model (CUDA only); full trains every weight; freeze trains only "
                              "the last layers.", "method",
                              choices=["lora", "qlora", "full", "freeze"])
    dpo_loss: str = _f("sigmoid", "DPO loss: sigmoid (the original DPO), ipo (steadier on small "
                       "or noisy data), hinge (SLiC: stops pushing once a pair is a margin "
                       "apart).", "method", choices=["sigmoid", "ipo", "hinge"],
                       methods=("dpo",))
    dpo_sft_weight: float = _f(0.0, "DPO: weight of a supervised term that also learns the "
                               "chosen answers (RPO). Above 0 keeps DPO from unlearning what "
                               "both answers of a pair share; 1 is a good start.", "method",
                               min=0.0, max=100.0, methods=("dpo",))
    dpo_beta: float = _f(0.1, "How far the tuned model may move from where it started (DPO, "
                         "KTO; higher stays closer). ORPO: the weight of the preference term. "
                         "SimPO: the reward scale, best near 2.", "method", min=0.0,
                         min_exclusive=True, max=10.0, methods=PREFERENCE_METHODS)
    simpo_gamma: float = _f(0.5, "SimPO: the margin a chosen answer should win by.", "method",
                            min=0.0, max=10.0, methods=("simpo",))
    kto_desirable_weight: float = _f(1.0, "KTO: weight of the answers labelled good (raise it "
                                     "when good answers are rarer than bad ones).", "method",
                                     min=0.0, min_exclusive=True, max=100.0, methods=("kto",))
    kto_undesirable_weight: float = _f(1.0, "KTO: weight of the answers labelled bad.", "method",
                                       min=0.0, min_exclusive=True, max=100.0, methods=("kto",))
    grpo_generations: int = _f(4, "GRPO: answers sampled per prompt; each is scored against the "
                               "others of its group.", "method", min=2, max=64,
                               methods=("grpo",))
    grpo_max_completion: int = _f(64, "GRPO: longest sampled answer, in tokens.", "method",
                                  min=1, max=8192, methods=("grpo",))
    grpo_temperature: float = _f(1.0, "GRPO: sampling temperature (higher = more varied "
                                 "answers to learn from).", "method", min=0.0,
                                 min_exclusive=True, max=5.0, methods=("grpo",))
    grpo_kl: float = _f(0.04, "GRPO: KL weight, how strongly the model is held near where it "
                        "started (0 = not at all).", "method", min=0.0, max=10.0,
                        methods=("grpo",))
    freeze_trainable_layers: int = _f(2, "freeze: how many of the last layers to train.",
                                      "method", min=1, max=1000)
    # --- rewards: GRPO's built-in rules (studio.engine.train.rewards); a weight of 0 turns a
    # rule off, and the total reward is the weighted sum of the rules that are on
    reward_format_regex: str = _f("", "Answer format: a regular expression the whole answer "
                                  "should match (e.g. .*Nova$ for a sign-off).", "rewards",
                                  methods=("grpo",))
    reward_format_weight: float = _f(0.0, "Weight of the format rule (1 when matched, else "
                                     "0).", "rewards", min=0.0, max=100.0, methods=("grpo",))
    reward_length_words: int = _f(0, "Target length: answers of at most this many words score "
                                  "1, longer ones less.", "rewards", min=0, max=100000,
                                  methods=("grpo",))
    reward_length_weight: float = _f(0.0, "Weight of the length rule.", "rewards", min=0.0,
                                     max=100.0, methods=("grpo",))
    reward_include: str = _f("", "Words the answer must contain (comma-separated).", "rewards",
                             methods=("grpo",))
    reward_exclude: str = _f("", "Words the answer must not contain (comma-separated).",
                             "rewards", methods=("grpo",))
    reward_words_weight: float = _f(0.0, "Weight of the must / must-not contain rule (the "
                                    "share of those words the answer gets right).", "rewards",
                                    min=0.0, max=100.0, methods=("grpo",))
    reward_chinese_share: float = _f(0.0, "Language: the share of Chinese characters among the "
                                     "answer's letters to aim for (1 = all Chinese, 0 = none).",
                                     "rewards", min=0.0, max=1.0, methods=("grpo",))
    reward_chinese_weight: float = _f(0.0, "Weight of the language rule.", "rewards", min=0.0,
                                      max=100.0, methods=("grpo",))
    reward_exact_weight: float = _f(0.0, "Weight of the exact-answer rule: the answer's final "
                                    "number or last line equals the row's own answer (numbers "
                                    "normalised: 1,000 = 1000.0).", "rewards", min=0.0,
                                    max=100.0, methods=("grpo",))
    reward_file: str = _f("", "Your own reward functions: a .py file in the workspace whose "
                          "functions named reward_* score answers. It runs your code, so the "
                          "studio must be started with --allow-code.", "rewards",
                          methods=("grpo",))
    allow_code: bool = _f(False, "Let reward_file run. Only the operator decides (--allow-code "
                          "at launch, or in the CLI).", "rewards", operator=True)
    # --- lora
    lora_rank: int = _f(16, "LoRA rank: adapter size. Larger learns more, costs more.", "lora",
                        min=1, max=1024)
    lora_alpha: int = _f(32, "LoRA alpha: adapter scale, usually twice the rank.", "lora",
                         min=1, max=4096)
    lora_dropout: float = _f(0.0, "Dropout inside the adapters.", "lora", min=0.0, max=0.9)
    lora_target: str = _f("all-linear", "Layers that get adapters: all-linear, or names such "
                          "as q_proj,v_proj.", "lora")
    # --- training
    learning_rate: float = _f(2e-4, "Step size. LoRA likes 1e-4 to 5e-4, full tuning 1e-5.",
                              "training", min=0.0, min_exclusive=True, max=1.0)
    num_epochs: float = _f(3.0, "Passes over the data (ignored when max_steps > 0).",
                           "training", min=0.0, min_exclusive=True, max=1000.0)
    max_steps: int = _f(0, "Stop after this many optimizer steps (0 = use epochs).", "training",
                        min=0)
    batch_size: int = _f(8, "Rows per device per step.", "training", min=1, max=4096)
    gradient_accumulation: int = _f(1, "Steps whose gradients are summed before one update.",
                                    "training", min=1, max=1024)
    max_length: int = _f(512, "Longest row in tokens; longer rows are cut.", "training",
                         min=16, max=131072)
    lr_scheduler: str = _f("cosine", "How the learning rate changes over the run.", "training",
                           choices=["cosine", "linear", "constant", "constant_with_warmup"])
    warmup_ratio: float = _f(0.0, "Share of steps spent warming the learning rate up.",
                             "training", min=0.0, max=0.5)
    # --- check: after a completed run, score base and tuned on a fixed sample of exam
    # questions (studio.engine.scoring.forgetting), so a run that destroyed what the model knew
    # says so without anyone scoring both models by hand
    forgetting_check: bool = _f(False, "After the run completes, score the base and the tuned "
                                "model on the same exam questions and say whether general "
                                "ability was lost. It never holds up the next run: starting "
                                "another job skips it.", "check")
    forgetting_mmlu_dir: str = _f("assets/sample-exam/en", "Exam folder in MMLU layout "
                                  "(test/<subject>_test.csv, no header) for the check; a real "
                                  "MMLU folder works too. Empty = no MMLU-style questions.",
                                  "check")
    forgetting_ceval_dir: str = _f("assets/sample-exam/zh", "Exam folder in C-Eval layout "
                                   "(val/<subject>_val.csv with a header) for the check; a real "
                                   "C-Eval folder works too. Empty = no C-Eval-style questions.",
                                   "check")
    forgetting_questions: int = _f(100, "Questions per exam, drawn across its subjects with a "
                                   "fixed seed, so before and after (and every run) are scored "
                                   "on the same ones. More is surer and slower.", "check",
                                   min=1, max=100000)
    # --- launch: where the run's processes run (studio.engine.train.launch)
    launch: str = _f("this_process", "How to run: this_process trains inside the studio's own "
                     "process; isolated in a child process (a crash or an out-of-memory kill "
                     "cannot take the studio down); distributed on several processes through "
                     "accelerate launch.", "launch",
                     choices=["this_process", "isolated", "distributed"])
    nproc_per_node: int = _f(2, "distributed: processes on this machine (one per GPU; on a CPU, "
                             "each gets its share of the cores).", "launch", min=1, max=64)
    strategy: str = _f("ddp", "distributed: ddp copies the model to every process; fsdp and "
                       "deepspeed_zero2/3 shard it (GPUs only) to fit larger models.", "launch",
                       choices=["ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"])
    cpu_offload: bool = _f(False, "fsdp / deepspeed: keep parameters and optimizer state in CPU "
                           "memory (slower, fits more).", "launch")
    num_nodes: int = _f(1, "distributed: machines taking part (the command for the others is "
                        "shown below the form).", "launch", min=1, max=1024)
    node_rank: int = _f(0, "distributed: this machine's number among the nodes (0 = main).",
                        "launch", min=0)
    main_address: str = _f("127.0.0.1", "distributed, several nodes: the main node's address "
                           "as the others reach it.", "launch")
    main_port: int = _f(29500, "distributed, several nodes: a free port on the main node.",
                        "launch", min=1, max=65535)
    # --- advanced
    assistant_only_loss: bool = _f(True, "Learn only from the assistant's answers, not the "
                                   "prompts and system text.", "advanced")
    packing: str = _f("auto", "Pack several short rows into one sequence of max_length tokens. "
                      "auto packs for pt (long texts are split, not cut) and not otherwise.",
                      "advanced", choices=["auto", "on", "off"])
    dtype: str = _f("auto", "Number format. auto picks bf16 where the CPU or GPU has it.",
                    "advanced", choices=["auto", "bfloat16", "float16", "float32"])
    gradient_checkpointing: str = _f("auto", "Trade compute for memory. auto turns it on only "
                                     "for models too large to train without it.", "advanced",
                                     choices=["auto", "on", "off"])
    weight_decay: float = _f(0.0, "Weight decay.", "advanced", min=0.0, max=1.0)
    max_grad_norm: float = _f(1.0, "Gradient clipping norm.", "advanced", min=0.0, max=1000.0)
    seed: int = _f(42, "Random seed: same seed, same run.", "advanced", min=0)
    logging_steps: int = _f(1, "Write metrics every N steps.", "advanced", min=1)
    eval_steps: int = _f(0, "Measure eval loss every N steps (0 = once per epoch when there "
                         "is validation data).", "advanced", min=0)
    save_steps: int = _f(50, "Save a resumable checkpoint every N steps.", "advanced", min=1)
    probe_prompts: list = _f(["Who are you?", "你是谁？"], "Questions the model answers during "
                             "training so you can watch it change.", "advanced")
    probe_steps: int = _f(10, "Answer the probe prompts every N steps (0 = only at the end).",
                          "advanced", min=0)
    report_to: str = _f("none", "Also log to an experiment tracker.", "advanced",
                        choices=["none", "tensorboard", "trackio", "wandb"])
    run_name: str = _f("", "Name for the run folder (empty = from the date and preset).",
                       "advanced")


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
OPERATOR_FIELDS = tuple(name for name, f in FIELDS.items() if f.metadata["operator"])


def field_type(name: str) -> type:
    """The Python type of a field (``list`` for list fields)."""
    hint = typing.get_type_hints(TrainConfig)[name]
    if isinstance(hint, types.GenericAlias):
        return hint.__origin__
    return hint


def coerce(name: str, value):
    """Turn a form or command-line value into the field's type, or raise ConfigError."""
    if name not in FIELDS:
        raise ConfigError("field_unknown", field=name)
    kind = field_type(name)
    choices = FIELDS[name].metadata["choices"] or ()
    if {"on", "off"} <= set(choices):  # auto/on/off fields were booleans once: keep old configs
        value = _on_off(value)
    try:
        if kind is bool and isinstance(value, str):
            low = value.strip().lower()
            if low not in {"true", "false", "1", "0", "yes", "no", "on", "off"}:
                raise ValueError(value)
            return low in {"true", "1", "yes", "on"}
        if kind is list:
            if isinstance(value, str):
                parsed = yaml.safe_load(value) if value.strip().startswith("[") else None
                return parsed if isinstance(parsed, list) else [
                    line.strip() for line in value.splitlines() if line.strip()]
            return list(value or [])
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        if kind is int and isinstance(value, str):
            return int(float(value)) if float(value).is_integer() else int(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError("field_type", field=name, kind=kind.__name__, got=repr(value)) from None


def _on_off(value):
    """An old boolean (``packing: true``, ``--set packing=false``) as on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if not isinstance(value, str):
        return value
    low = value.strip().lower()
    return {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off",
            "0": "off"}.get(low, low)


def uses_packing(cfg: TrainConfig) -> bool:
    """Whether rows are packed: ``packing`` on, or auto for continued pre-training (pt)."""
    return cfg.packing == "on" or (cfg.packing == "auto" and cfg.method == "pt")


def validate(cfg: TrainConfig) -> list[Reason]:
    """Every problem with ``cfg``, each naming the field (``params["field"]``); empty when fine."""
    errors = []
    for name, f in FIELDS.items():
        errors += _field_problems(name, getattr(cfg, name), f.metadata)
    for name in ("model", "dataset"):
        if not getattr(cfg, name).strip():
            errors.append(Reason("field_empty", {"field": name}))
    errors.extend(_method_problems(cfg))
    if cfg.eval_steps and not cfg.val_fraction:  # TRL would skip eval without a word
        errors.append(Reason("eval_steps_without_val", {"field": "eval_steps",
                                                        "got": cfg.eval_steps}))
    if cfg.forgetting_check and not (cfg.forgetting_mmlu_dir.strip() or
                                     cfg.forgetting_ceval_dir.strip()):
        errors.append(Reason("forgetting_no_exam", {"field": "forgetting_mmlu_dir"}))
    if cfg.finetuning_type == "qlora":
        errors.extend(_qlora_problems())
    if cfg.launch == "distributed":
        errors.extend(_distributed_problems(cfg))
    return errors


def _method_problems(cfg: TrainConfig) -> list[Reason]:
    """Settings the chosen method cannot train with."""
    out = []
    if cfg.method not in ("sft", "pt") and cfg.packing == "on":
        out.append(Reason("packing_with_method", {"field": "packing", "method": cfg.method}))
    if cfg.start_from.strip() and cfg.finetuning_type not in ("lora", "qlora"):
        out.append(Reason("start_from_needs_lora", {"field": "start_from",
                                                    "type": cfg.finetuning_type}))
    if cfg.method == "grpo":
        out.extend(reward_problems(cfg))
    return out


REWARD_RULES = {  # rule's weight field -> the fields that say what it asks for
    "reward_format_weight": ("reward_format_regex",),
    "reward_length_weight": ("reward_length_words",),
    "reward_words_weight": ("reward_include", "reward_exclude"),
    "reward_chinese_weight": (),  # a share of 0 is a real target: "no Chinese"
    "reward_exact_weight": (),
}


def reward_problems(cfg: TrainConfig) -> list[Reason]:
    """GRPO needs something to score answers with, and each rule that is on needs its target."""
    import re

    rules_on = [w for w in REWARD_RULES if getattr(cfg, w) > 0]
    if not rules_on and not cfg.reward_file.strip():
        return [Reason("grpo_no_reward", {"field": "reward_format_weight"})]
    out = []
    if cfg.reward_file.strip() and not cfg.allow_code:
        out.append(Reason("reward_file_needs_flag", {"field": "reward_file"}))
    for weight in rules_on:
        targets = REWARD_RULES[weight]
        if targets and not any(getattr(cfg, t) not in ("", 0) for t in targets):
            out.append(Reason("reward_rule_empty", {"field": targets[0], "weight": weight}))
    if cfg.reward_format_regex:
        try:
            re.compile(cfg.reward_format_regex)
        except re.error as exc:
            out.append(Reason("reward_regex_bad", {"field": "reward_format_regex",
                                                   "detail": str(exc)}))
    return out


def _distributed_problems(cfg: TrainConfig) -> list[Reason]:
    """What would make a distributed launch fail on this machine, found before it starts."""
    import importlib.util

    import torch

    out = []
    if cfg.node_rank >= cfg.num_nodes:
        out.append(Reason("launch_node_rank", {"field": "node_rank", "rank": cfg.node_rank,
                                               "nodes": cfg.num_nodes}))
    sharded = cfg.strategy != "ddp"
    if sharded and not torch.cuda.is_available():
        out.append(Reason("launch_strategy_needs_gpu", {"field": "strategy",
                                                        "strategy": cfg.strategy}))
    elif cfg.strategy.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        out.append(Reason("launch_needs_deepspeed", {"field": "strategy"}))
    if torch.cuda.is_available() and cfg.nproc_per_node > torch.cuda.device_count():
        out.append(Reason("launch_too_few_gpus", {"field": "nproc_per_node",
                                                  "asked": cfg.nproc_per_node,
                                                  "found": torch.cuda.device_count()}))
    if cfg.finetuning_type == "qlora" and sharded:
        out.append(Reason("launch_qlora_strategy", {"field": "strategy",
                                                    "strategy": cfg.strategy}))
    return out


def _field_problems(name: str, value, meta: dict) -> list[Reason]:
    problems = []
    if meta["choices"] and value not in meta["choices"]:
        problems.append(Reason("field_choice", {"field": name, "got": repr(value),
                                                "choices": ", ".join(meta["choices"])}))
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return problems
    lo, hi = meta["min"], meta["max"]
    if lo is not None and (value < lo or (meta["min_exclusive"] and value == lo)):
        op = ">" if meta["min_exclusive"] else ">="
        problems.append(Reason("field_range", {"field": name, "op": op, "bound": lo,
                                               "got": value}))
    if hi is not None and value > hi:
        problems.append(Reason("field_range", {"field": name, "op": "<=", "bound": hi,
                                               "got": value}))
    return problems


def _qlora_problems() -> list[Reason]:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return [Reason("qlora_needs_cuda", {"field": "finetuning_type"})]
    if importlib.util.find_spec("bitsandbytes") is None:
        return [Reason("qlora_needs_bitsandbytes", {"field": "finetuning_type"})]
    return []


def check(cfg: TrainConfig) -> TrainConfig:
    """Return ``cfg`` if it is valid, else raise ConfigError listing every problem."""
    errors = validate(cfg)
    if errors:
        raise ConfigError(errors)
    return cfg


def from_dict(data: dict) -> TrainConfig:
    """Build a config from a mapping (YAML, form values), coercing types; unknown keys fail."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ConfigError([Reason("field_unknown", {"field": k}) for k in unknown])
    return TrainConfig(**{k: coerce(k, v) for k, v in data.items() if v is not None})


def to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


def with_overrides(cfg: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply ``key=value`` strings (the CLI's ``--set``) to a config."""
    changes = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("set_syntax", got=repr(item))
        changes[key.strip()] = coerce(key.strip(), value)
    return dataclasses.replace(cfg, **changes)


def dump_yaml(cfg: TrainConfig, header: str = "") -> str:
    body = yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return comment + body


def load_yaml(path: str | Path) -> TrainConfig:
    """Read a preset or a run's config.yaml; missing fields take their defaults."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError("config_missing", path=str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError("config_yaml", path=str(path), detail=str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError("config_not_mapping", path=str(path))
    return from_dict(data)


def preset_header(path: str | Path) -> str:
    """The leading comment block of a preset file: what it is for, time, what to tweak."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return "\n".join(lines).strip()
