"""LLaMA-Factory's ``dataset_info.json``: a folder of datasets described by name, read as it is.

A source ``<folder>/dataset_info.json#<entry>`` (or ``<folder>#<entry>``) is one entry of such a
file. Its ``file_name`` (a file or a folder of same-type files, never outside the folder of the
``dataset_info.json``) or ``hf_hub_url`` (with ``subset``, ``split``, ``folder``, ``revision``) is
read by ``read.read_rows``, which hands itself in as ``reader`` (``read`` imports this module, so
this one never imports ``read``). ``formatting`` (alpaca or sharegpt), ``ranking``, ``columns``,
``tags`` and ``num_samples`` then rename every row into the shapes ``formats`` already reads:
alpaca's instruction/input/output/system/history; sharegpt ``conversations`` of from/value with
the roles human, gpt, system, function_call and observation (with ``system`` and ``tools``);
preference rows (prompt or conversations, chosen, rejected); a KTO ``label``; and ``text`` for a
pre-training entry that names only a prompt column. What the studio cannot honour (images, audio
or video columns, ModelScope or script sources, an unknown setting, a role no tag names) raises
``DataError`` naming the entry and, for one row, the row and what was expected.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio.engine.errors import DataError, Reason

INFO_NAME = "dataset_info.json"
ENTRY_KEYS = ("file_name", "hf_hub_url", "ms_hub_url", "om_hub_url", "script_url",
              "cloud_file_name", "formatting", "ranking", "subset", "split", "folder",
              "revision", "num_samples", "columns", "tags", "file_sha1")
OTHER_SOURCES = ("ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")
HUB_ONLY = ("subset", "folder", "revision")
FORMATTINGS = ("alpaca", "sharegpt")
# columns -> LLaMA-Factory's default column name, per formatting and for both
COLUMNS = {"alpaca": {"prompt": "instruction", "query": "input", "response": "output",
                      "history": None},
           "sharegpt": {"messages": "conversations"}}
COMMON_COLUMNS = {"system": None, "tools": None, "chosen": None, "rejected": None,
                  "kto_tag": None}
MEDIA_COLUMNS = ("images", "videos", "audios")
TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
        "observation_tag": "observation", "function_tag": "function_call",
        "system_tag": "system"}
# which studio sharegpt role each tag names (later tags win a shared value, as in LLaMA-Factory)
ROLE_OF_TAG = {"user_tag": "human", "assistant_tag": "gpt", "observation_tag": "observation",
               "function_tag": "function_call", "system_tag": "system"}
# reasons that keep an entry out of the pickers: there is nothing there to pick
UNLISTED = ("info_file_missing", "info_file_escape", "info_entry_object", "info_no_source")

Reader = Callable[..., list[dict]]


@dataclass(frozen=True)
class Entry:
    """One entry, checked: where its rows are and how they are named."""

    name: str
    label: str  # "<dataset_info.json>#<name>", used in every message
    info_path: Path
    spec: dict
    formatting: str
    ranking: bool
    columns: dict
    named: frozenset  # the column keys the entry names itself
    tags: dict
    hub: str | None


# --------------------------------------------------------------------------- naming


def split_source(source) -> tuple[str, str] | None:
    """(path part, entry name) of ``path#name``; None when ``source`` names no entry."""
    text = str(source)
    marker = INFO_NAME + "#"
    if marker in text:
        cut = text.index(marker) + len(INFO_NAME)
        return text[:cut], text[cut + 1:]
    head, sep, name = text.rpartition("#")
    if sep and head and name and not any(c in name for c in "/\\"):
        return head, name
    return None


def info_file(path) -> Path | None:
    """The ``dataset_info.json`` that ``path`` is or holds; None when neither."""
    path = Path(path)
    if path.name == INFO_NAME and path.is_file():
        return path
    if path.is_dir() and (path / INFO_NAME).is_file():
        return path / INFO_NAME
    return None


def is_entry(source) -> bool:
    """Whether ``read_rows`` should hand ``source`` to ``read_entry``: an entry, or a bare
    ``dataset_info.json`` or its folder (answered with the names to pick from)."""
    parts = split_source(source)
    if parts is None:
        path = Path(str(source))
        return path.name == INFO_NAME or (path.is_dir() and info_file(path) is not None)
    head = Path(parts[0])
    return head.name == INFO_NAME or info_file(head) is not None


# --------------------------------------------------------------------------- the file


def load_info(info_path) -> dict:
    """The parsed ``dataset_info.json``: an object of entry name -> settings."""
    path = Path(info_path)
    if not path.is_file():
        raise DataError("data_file_missing", path=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DataError("data_json", path=str(path), line=exc.lineno, column=exc.colno,
                        detail=exc.msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError("data_unreadable", path=str(path), detail=str(exc)) from None
    if not isinstance(data, dict):
        raise DataError("info_not_object", path=str(path))
    return data


def scan_entries(info_path) -> tuple[list[str], list[Reason]]:
    """(names a user can pick, one reason per entry that cannot be read as it is).

    Entries whose file is missing or outside the folder are left out of the names; entries the
    studio refuses for another reason (an images column, say) stay in, so picking one shows why.
    """
    info_path = info_file(info_path) or Path(info_path)
    data = load_info(info_path)
    names, problems = [], []
    for name in data:
        reason = _entry_problem(info_path, name, data)
        if reason is not None:
            problems.append(reason)
        if reason is None or reason.code not in UNLISTED:
            names.append(name)
    return names, problems


def _entry_problem(info_path: Path, name: str, data: dict) -> Reason | None:
    try:
        _source_path(info_path, name, data[name])
        parse_entry(info_path, name, data)
    except DataError as exc:
        return exc.reason
    return None


def list_entries(info_path) -> list[str]:
    """The entry names of ``info_path`` (the file or its folder) whose data is there: a file
    next to it, or a hub id."""
    return scan_entries(info_path)[0]


def parse_entry(info_path, name: str, data: dict | None = None) -> Entry:
    """Entry ``name`` of ``info_path``, its settings checked; DataError for what cannot be
    honoured."""
    info_path = Path(info_path)
    data = load_info(info_path) if data is None else data
    if name not in data:
        raise DataError("info_entry_unknown", path=str(info_path), entry=name,
                        known=", ".join(data) or "none")
    spec, label = data[name], f"{info_path}#{name}"
    if not isinstance(spec, dict):
        raise DataError("info_entry_object", entry=label, got=type(spec).__name__)
    unknown = [k for k in spec if k not in ENTRY_KEYS]
    if unknown:
        raise DataError("info_key_unknown", entry=label, key=unknown[0],
                        known=", ".join(ENTRY_KEYS))
    formatting = _setting(spec, "formatting", "alpaca")
    if formatting not in FORMATTINGS:
        raise DataError("info_formatting", entry=label, got=str(formatting),
                        choices=", ".join(FORMATTINGS))
    ranking = _setting(spec, "ranking", False)
    if not isinstance(ranking, bool):
        raise DataError("info_value_type", entry=label, key="ranking", kind="boolean",
                        got=repr(ranking))
    columns, named = _columns(spec, formatting, label, ranking)
    hub = _hub(spec, label)
    _check_extras(spec, label, hub)
    if ranking and columns["kto_tag"]:
        raise DataError("info_kto_ranking", entry=label)
    return Entry(name, label, info_path, spec, formatting, ranking, columns, named,
                 _tags(spec, formatting, label), hub)


def _setting(spec: dict, key: str, default):
    value = spec.get(key)
    return default if value is None else value


def _columns(spec: dict, formatting: str, label: str, ranking: bool) -> tuple[dict, frozenset]:
    raw = _setting(spec, "columns", {})
    if not isinstance(raw, dict):
        raise DataError("info_value_type", entry=label, key="columns", kind="object",
                        got=type(raw).__name__)
    other = "sharegpt" if formatting == "alpaca" else "alpaca"
    known = [*COLUMNS[formatting], *COMMON_COLUMNS]
    for key, column in raw.items():
        if key in MEDIA_COLUMNS and column:
            raise DataError("info_media", entry=label, key=key, column=str(column))
        if key in COLUMNS[other]:
            raise DataError("info_key_format", entry=label, key=f"columns.{key}", fmt=other)
        if key not in known and key not in MEDIA_COLUMNS:
            raise DataError("info_column_unknown", entry=label, key=key, known=", ".join(known))
        if column is not None and not isinstance(column, str):
            raise DataError("info_value_type", entry=label, key=f"columns.{key}",
                            kind="string", got=repr(column))
    defaults = {**COLUMNS[formatting], **COMMON_COLUMNS}
    if ranking:
        defaults.update(chosen="chosen", rejected="rejected")
    named = frozenset(k for k, v in raw.items() if v and k in defaults)
    return {**defaults, **{k: v for k, v in raw.items() if k in defaults}}, named


def _tags(spec: dict, formatting: str, label: str) -> dict:
    raw = _setting(spec, "tags", {})
    if not isinstance(raw, dict):
        raise DataError("info_value_type", entry=label, key="tags", kind="object",
                        got=type(raw).__name__)
    if raw and formatting != "sharegpt":
        raise DataError("info_key_format", entry=label, key="tags", fmt="sharegpt")
    for key, value in raw.items():
        if key not in TAGS:
            raise DataError("info_tag_unknown", entry=label, key=key, known=", ".join(TAGS))
        if value is not None and not isinstance(value, str):
            raise DataError("info_value_type", entry=label, key=f"tags.{key}", kind="string",
                            got=repr(value))
    return {**TAGS, **raw}


def _hub(spec: dict, label: str) -> str | None:
    if spec.get("hf_hub_url"):
        return str(spec["hf_hub_url"])
    for key in OTHER_SOURCES:
        if spec.get(key):
            raise DataError("info_source_unsupported", entry=label, key=key,
                            value=str(spec[key]))
    if not spec.get("file_name"):
        raise DataError("info_no_source", entry=label)
    return None


def _check_extras(spec: dict, label: str, hub: str | None) -> None:
    for key in HUB_ONLY + ("split",):
        value = spec.get(key)
        if value is not None and not isinstance(value, str):
            raise DataError("info_value_type", entry=label, key=key, kind="string",
                            got=repr(value))
        if hub is None and value and not (key == "split" and value == "train"):
            raise DataError("info_hub_only", entry=label, key=key, value=value)
    n = spec.get("num_samples")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise DataError("info_value_type", entry=label, key="num_samples",
                        kind="integer >= 1", got=repr(n))


def _source_path(info_path: Path, name: str, spec) -> Path | None:
    """The entry's file or folder, inside the folder of ``info_path``; None for a hub entry."""
    if not isinstance(spec, dict) or spec.get("hf_hub_url") or not spec.get("file_name"):
        return None
    label, folder = f"{info_path}#{name}", info_path.parent.resolve()
    file_name = spec["file_name"]
    if not isinstance(file_name, str):
        raise DataError("info_value_type", entry=label, key="file_name", kind="string",
                        got=repr(file_name))
    path = (folder / file_name).resolve()
    if path == folder or not path.is_relative_to(folder):
        raise DataError("info_file_escape", entry=label, file=file_name, folder=str(folder))
    if not path.exists():
        raise DataError("info_file_missing", entry=label, file=file_name, folder=str(folder))
    return path


# --------------------------------------------------------------------------- reading


def read_entry(source, reader: Reader, split: str = "train", **kwargs) -> list[dict]:
    """The rows of entry ``source``, renamed into the studio's shapes.

    ``reader`` reads a plain file or hub id (``read.read_rows``, which calls this); ``split``
    is used for a hub entry that names none; ``kwargs`` (``text_split``) go to ``reader`` for
    files.
    """
    parts = split_source(source)
    if parts is None or not parts[1]:
        path = Path(parts[0] if parts else str(source))
        names = list_entries(info_file(path) or path)
        raise DataError("info_pick_entry", path=str(path), known=", ".join(names) or "none")
    head, name = Path(parts[0]), parts[1]
    entry = parse_entry(info_file(head) or head, name)
    out = []
    for label, rows in _read_parts(entry, reader, split, kwargs):
        out += convert_rows(entry, rows, label)
    n = entry.spec.get("num_samples")
    return _sample(out, n) if n else out


def _read_parts(entry: Entry, reader: Reader, split: str,
                kwargs: dict) -> list[tuple[str, list[dict]]]:
    """(label, raw rows) for the entry's file, each file of its folder, or its hub dataset."""
    if entry.hub:
        return [(entry.label, _read_hub(entry, reader, split))]
    path = _source_path(entry.info_path, entry.name, entry.spec)
    if path.is_file():
        return [(entry.label, reader(str(path), **kwargs))]
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    suffixes = sorted({p.suffix.lower() for p in files})
    if not files:
        raise DataError("info_folder_empty", entry=entry.label, file=entry.spec["file_name"])
    if len(suffixes) > 1:
        raise DataError("info_folder_mixed", entry=entry.label, file=entry.spec["file_name"],
                        suffixes=", ".join(suffixes))
    return [(f"{entry.label} ({p.name})", reader(str(p), **kwargs)) for p in files]


def _read_hub(entry: Entry, reader: Reader, split: str) -> list[dict]:
    split = _setting(entry.spec, "split", split)
    extra = {arg: entry.spec[key] for key, arg in (("subset", "name"), ("folder", "data_dir"),
                                                    ("revision", "revision"))
             if entry.spec.get(key)}
    if not extra:
        return reader(entry.hub, split)
    import datasets

    try:
        return [dict(r) for r in datasets.load_dataset(entry.hub, split=split, **extra)]
    except Exception as exc:  # network, a missing subset or split: the hub says which
        raise DataError("data_hub", dataset=entry.hub, split=split, detail=str(exc)) from exc


def _sample(rows: list[dict], n: int) -> list[dict]:
    """``num_samples`` as LLaMA-Factory takes it: n rows at random, repeating when n is more
    than there are (seeded, so a run can be repeated)."""
    if not rows:
        return rows
    rng = random.Random(0)
    order = rng.sample(range(len(rows)), min(n, len(rows)))
    order += [rng.randrange(len(rows)) for _ in range(n - len(order))]
    return [rows[i] for i in order]


# --------------------------------------------------------------------------- renaming rows


def convert_rows(entry: Entry, rows: list[dict], label: str) -> list[dict]:
    """``rows`` of ``entry`` in the studio's shapes; a bad row raises naming ``label`` and it."""
    _check_columns(entry, rows, label)
    if entry.formatting == "sharegpt":
        convert = _sharegpt_row
    elif _is_text(entry, rows):
        convert = _text_row
    else:
        convert = _alpaca_row
    out = []
    for i, row in enumerate(rows, 1):
        try:
            out.append(convert(row, entry))
        except DataError as exc:
            raise DataError("data_row", path=label, row=i, reason=exc.reason) from None
    return out


def _keys(rows: list[dict]) -> set:
    return set().union(*(row.keys() for row in rows))


def _check_columns(entry: Entry, rows: list[dict], label: str) -> None:
    """Every column the entry names, and the one it cannot do without, is in some row."""
    keys, c = _keys(rows), entry.columns
    needed = {"prompt" if entry.formatting == "alpaca" else "messages"}
    needed |= {"chosen", "rejected"} if entry.ranking else set()
    for key in sorted(entry.named | needed):
        if c[key] and c[key] not in keys:
            raise DataError("info_column_missing", entry=label, key=key, column=c[key],
                            found=", ".join(sorted(keys)[:20]))


def _is_text(entry: Entry, rows: list[dict]) -> bool:
    """A pre-training entry: it names a prompt column and no answer of any kind."""
    c = entry.columns
    return (not entry.ranking and not c["kto_tag"] and "response" not in entry.named
            and not c["history"] and c["response"] not in _keys(rows))


def _scalar(value) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN: an empty cell
        return ""
    return value if isinstance(value, str) else str(value)


def _joined(row: dict, c: dict) -> str:
    """LLaMA-Factory's user turn: prompt and query joined by a newline, empty ones left out."""
    parts = [_scalar(row.get(c[k])) for k in ("prompt", "query") if c[k]]
    return "\n".join(p for p in parts if p)


def _require(row: dict, column: str) -> None:
    if column not in row:
        raise DataError("row_field_missing", field=column)


def _history_turns(row: dict, c: dict) -> list[dict]:
    history = row.get(c["history"]) if c["history"] else None
    if not history:
        return []
    if not isinstance(history, list):
        raise DataError("row_history_pairs")
    turns = []
    for pair in history:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise DataError("row_history_pairs")
        turns += [{"from": "human", "value": pair[0]}, {"from": "gpt", "value": pair[1]}]
    return turns


def _with_extras(out: dict, row: dict, c: dict, system=None) -> dict:
    system = row.get(c["system"]) if system is None and c["system"] else system
    if system not in (None, ""):
        out["system"] = system
    if c["tools"] and row.get(c["tools"]) not in (None, ""):
        out["tools"] = row[c["tools"]]
    return out


def _text_row(row: dict, entry: Entry) -> dict:
    _require(row, entry.columns["prompt"])
    return {"text": _joined(row, entry.columns)}


def _alpaca_row(row: dict, entry: Entry) -> dict:
    c = entry.columns
    _require(row, c["prompt"])
    if entry.ranking:
        _require(row, c["chosen"])
        _require(row, c["rejected"])
        history, prompt = _history_turns(row, c), _joined(row, c)
        out = {"prompt": [*history, {"from": "human", "value": prompt}] if history else prompt,
               "chosen": row[c["chosen"]], "rejected": row[c["rejected"]]}
        return _with_extras(out, row, c)
    _require(row, c["response"])
    if c["kto_tag"] or c["tools"]:  # alpaca rows keep neither: say it as a conversation
        turns = [*_history_turns(row, c), {"from": "human", "value": _joined(row, c)},
                 {"from": "gpt", "value": row[c["response"]]}]
        out = {"conversations": turns}
        if c["kto_tag"]:
            out["label"] = _kto_label(row, c["kto_tag"])
        return _with_extras(out, row, c)
    out = {"instruction": row[c["prompt"]], "input": row.get(c["query"]) if c["query"] else "",
           "output": row[c["response"]]}
    if c["history"]:
        out["history"] = row.get(c["history"])
    return _with_extras(out, row, c)


def _sharegpt_row(row: dict, entry: Entry) -> dict:
    c, tags = entry.columns, entry.tags
    _require(row, c["messages"])
    turns = _turns(row[c["messages"]], c["messages"], tags)
    system = None
    if turns and turns[0]["from"] == "system":  # a leading system turn overrides the column
        system, turns = turns[0]["value"], turns[1:]
    out = {"conversations": turns}
    if entry.ranking:
        for side in ("chosen", "rejected"):
            _require(row, c[side])
            out[side] = _answer(row[c[side]], c[side], tags)
    if c["kto_tag"]:
        out["label"] = _kto_label(row, c["kto_tag"])
    return _with_extras(out, row, c, system)


def _turns(value, field: str, tags: dict) -> list[dict]:
    if not isinstance(value, list):
        raise DataError("row_turns_list", field=field)
    return [_turn(raw, field, j, tags) for j, raw in enumerate(value, 1)]


def _turn(raw, field: str, turn: int, tags: dict) -> dict:
    role_tag, content_tag = tags["role_tag"], tags["content_tag"]
    if not isinstance(raw, dict) or role_tag not in raw or content_tag not in raw:
        raise DataError("info_row_turn", field=field, turn=turn, role_tag=role_tag,
                        content_tag=content_tag)
    roles = {tags[key]: role for key, role in ROLE_OF_TAG.items() if tags[key] is not None}
    role = raw[role_tag]
    if not isinstance(role, str) or role not in roles:
        raise DataError("info_row_role", field=field, turn=turn, role=str(role),
                        expected=", ".join(roles))
    return {"from": roles[role], "value": raw[content_tag]}


def _answer(value, field: str, tags: dict):
    """A chosen or rejected answer: one turn, a list of turns, or plain text."""
    if isinstance(value, dict):
        return _turn(value, field, 1, tags)
    if isinstance(value, list):
        return _turns(value, field, tags)
    return value


def _kto_label(row: dict, column: str) -> bool:
    value = row.get(column)
    value = value.item() if hasattr(value, "item") else value  # numpy's bool from a table
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise DataError("info_row_kto", field=column, got=repr(value))
