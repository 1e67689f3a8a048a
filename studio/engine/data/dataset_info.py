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
from pathlib import Path

from studio.engine.data.dataset_info_rows import Entry, convert_rows
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
# reasons that keep an entry out of the pickers: there is nothing there to pick
UNLISTED = ("info_file_missing", "info_file_escape", "info_entry_object", "info_no_source")

Reader = Callable[..., list[dict]]


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
    is used for a hub entry that names none; ``kwargs`` (``text_split`` and the Data tab's
    ``limit`` / ``max_bytes``) go to ``reader`` for files, ``limit`` for a hub entry too.
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
        return [(entry.label, _read_hub(entry, reader, split, kwargs))]
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


def _read_hub(entry: Entry, reader: Reader, split: str, kwargs: dict) -> list[dict]:
    split = _setting(entry.spec, "split", split)
    extra = {arg: entry.spec[key] for key, arg in (("subset", "name"), ("folder", "data_dir"),
                                                    ("revision", "revision"))
             if entry.spec.get(key)}
    # The reader streams the hub when the caller keeps only the first rows (``limit``).
    limit = {k: v for k, v in kwargs.items() if k == "limit"}
    return reader(entry.hub, split, hub_options=extra, **limit)


def _sample(rows: list[dict], n: int) -> list[dict]:
    """``num_samples`` as LLaMA-Factory takes it: n rows at random, repeating when n is more
    than there are (seeded, so a run can be repeated)."""
    if not rows:
        return rows
    rng = random.Random(0)
    order = rng.sample(range(len(rows)), min(n, len(rows)))
    order += [rng.randrange(len(rows)) for _ in range(n - len(order))]
    return [rows[i] for i in order]
