"""Bad data files of every kind, driven through the Data tab's API as a user or a script would.

One studio serves the module, on a workspace of its own, beside a folder standing for the rest of
the server's disk and one for the user's own machine. Each case makes a bad file, loads it
(``/data_load``), uploads it (``/data_upload``) or saves under a bad name (``/data_save``) with
gradio_client, and checks three things: the message the user sees names the problem (a row,
line, column, encoding or size; never a traceback or a server folder the user did not type);
the server answers the next request (the session's dataset is still there, the identity asset
loads); nothing the user had is changed (every file in the workspace and the user's own files
hash the same before and after, and no half-made dataset appears). Then the caps on file size
and rows per session, uploads and saves racing for one name, and the hub.
"""

from __future__ import annotations

import codecs
import hashlib
import html
import io
import json
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.ui_server import launch_studio

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]
GOOD = "assets/identity.json"  # the 63 alpaca rows of the identity demo
GOOD_ROWS = 63
ALPACA = [{"instruction": "Who are you?", "output": "I am an assistant."},
          {"instruction": "Say hi", "input": "", "output": "Hi!"}]
ZH = [{"instruction": "你好，请介绍一下你自己。", "output": "我是一个人工智能助手。"}]
# A path-like run in a message: "/a/b" not preceded by a word, ":" or "/" (so URLs are skipped).
ABSOLUTE = re.compile(r"(?<![\w:/.])/[\w.+-]+(?:/[\w.+-]+)+")


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_model_dir):
    from gradio_client import Client, handle_file

    from studio.engine.workspace import Workspace

    root = tmp_path_factory.mktemp("bad-files-ws")
    outside = tmp_path_factory.mktemp("outside")  # the rest of the server's disk
    (outside / "secret.json").write_text(json.dumps(ALPACA), encoding="utf-8")
    mine = tmp_path_factory.mktemp("users-machine")  # where uploads come from
    workspace = Workspace(root, [tiny_model_dir])  # the folder itself: its parent is all tmp
    (root / "bad").mkdir()
    demo, url = launch_studio(workspace)
    client = Client(url, verbose=False)
    # The workspace a user already has: one upload made (so the uploads folder exists).
    first = mine / "identity.json"
    first.write_bytes((REPO / GOOD).read_bytes())
    out = client.predict(handle_file(str(first)), "document", "en", api_name="/data_upload")
    assert "data-msg-ok" in out[0], out[0]
    yield SimpleNamespace(client=client, url=url, workspace=workspace, ws=root,
                          bad=root / "bad", outside=outside, mine=mine,
                          tiny=tiny_model_dir, holds_good=False)
    demo.close()


# --------------------------------------------------------------------------- driving the page


def call(client, endpoint: str, *args, lang: str = "en") -> dict:
    """One Data-tab endpoint; results by output name (see studio/ui/data/tab.py OUTPUTS)."""
    from studio.ui.data.tab import OUTPUTS

    result = client.predict(*args, lang, api_name=f"/{endpoint}")
    return dict(zip(OUTPUTS, result, strict=True))


def load(client, source: str) -> dict:
    return call(client, "data_load", source, "auto", "document")


def upload(client, path: Path) -> dict:
    from gradio_client import handle_file

    return call(client, "data_upload", handle_file(str(path)), "document")


def text_of(fragment) -> str:
    """What a person reads in an HTML message: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", str(fragment or "")))


def rows_of(out: dict, name: str) -> list[list]:
    """The rows of a table output (None when the event left the table as it was)."""
    return (out.get(name) or {}).get("data") or []


def problems_of(out: dict) -> list[str]:
    return [" ".join(str(c) for c in row) for row in rows_of(out, "problems")]


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file and folder under ``folders``: sha256 of files, the target of links."""
    seen = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            key = str(path)
            if path.is_symlink():
                seen[key] = "link->" + os.readlink(path)
            elif path.is_dir():
                seen[key] = "dir"
            else:
                seen[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


def assert_readable(message: str, typed: str) -> None:
    """A message, not a stack trace, naming no server folder the user did not type."""
    assert message.strip()
    assert "Traceback" not in message and 'File "' not in message, message
    leaked = [p for p in ABSOLUTE.findall(message) if p not in typed]
    assert leaked == [], message


def assert_server_answers(env, still_loaded: bool) -> None:
    """The next requests are answered: the session's dataset is still there (after a refusal),
    and the good asset loads (and is then the session's dataset for the next case)."""
    env.holds_good = False
    if still_loaded:
        page = call(env.client, "data_page", "", 1)
        assert f"of {GOOD_ROWS}" in page["page_info"], page["page_info"]
    out = load(env.client, GOOD)
    assert "data-msg-ok" in out["status"] and f"Loaded {GOOD_ROWS} rows" in out["status"]
    env.holds_good = True


def open_good(env) -> None:
    """The dataset the user has open before a case: the asset, unless the session has it."""
    if not env.holds_good:
        assert "data-msg-ok" in load(env.client, GOOD)["status"]
    env.holds_good = False  # until a case ends by loading it again


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable  # (env) -> the source as the user types it, or the file uploaded
    says: tuple[str, ...]  # every one appears in what the user reads
    outcome: str = "error"  # error | ok | problem (loads, the problems list names it)
    via: str = "load"  # load | upload

    def __str__(self) -> str:
        return self.id


CASES: list[Case] = []


def case(id: str, *says: str, outcome: str = "error", via: str = "load"):
    def register(make):
        CASES.append(Case(id, make, says, outcome, via))
        return make
    return register


def put(env, name: str, content, encoding: str = "utf-8") -> str:
    """A user's file in the workspace (or, for uploads, on their machine); its source."""
    folder = env.mine if name.startswith("up:") else env.bad
    path = folder / name.removeprefix("up:")
    data = content if isinstance(content, bytes) else content.encode(encoding)
    path.write_bytes(data)
    return str(path) if folder == env.mine else str(path.relative_to(env.ws))


def dump(rows) -> str:
    return json.dumps(rows, ensure_ascii=False)


def jsonl(*rows) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)
                     for r in rows) + "\n"


def parquet(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


# --- JSON that is not what it should be
case("invalid-json", "invalid JSON at line 2, column 18")(lambda e: put(
    e, "invalid.json", '[{"instruction": "a", "output": "b"},\n {"instruction": }]'))
case("json-trailing-comma", "invalid JSON at line 1")(lambda e: put(
    e, "comma.json", '[{"instruction": "a", "output": "b"},]'))
case("json-a-string-not-a-list", "is a single string, not a list of rows")(lambda e: put(
    e, "scalar.json", '"just some text"'))
case("json-object-with-two-lists", "expected a list of rows, got an object")(lambda e: put(
    e, "two-lists.json", dump({"train": ALPACA, "test": ALPACA})))
case("json-rows-not-objects", "row 1: expected an object of fields, got int")(lambda e: put(
    e, "numbers.json", "[1, 2, 3]"))
case("jsonl-one-bad-line", "line 3 is not valid JSON")(lambda e: put(
    e, "one-bad.jsonl", jsonl(ALPACA[0], ALPACA[1], '{"instruction": "x", "output": ')))
case("deeply-nested-json-10000", "nested more than 100 levels deep")(lambda e: put(
    e, "deep.json", "[" * 10000 + "]" * 10000))
case("deeply-nested-row-500", "row 2 is nested more than 100 levels deep")(lambda e: put(
    e, "deep-row.json", '[{"instruction": "a", "output": "b"}, {"instruction": "a", '
    '"output": "b", "meta": ' + "[" * 500 + "]" * 500 + "}]"))
case("deeply-nested-jsonl-line", "line 2 is nested more than 100 levels deep")(lambda e: put(
    e, "deep.jsonl", jsonl(ALPACA[0], '{"a": ' + "[" * 10000 + "]" * 10000 + "}")))

# --- empty in every way
case("empty-file", "bad/empty.json: the file holds no rows")(lambda e: put(e, "empty.json", b""))
case("blank-jsonl", "bad/blank.jsonl: the file holds no rows")(lambda e: put(
    e, "blank.jsonl", "  \n\n \n"))
case("empty-list", "the file holds no rows")(lambda e: put(e, "empty-list.json", "[]"))
case("csv-only-a-header", "the file holds no rows")(lambda e: put(
    e, "header.csv", "instruction,output\n"))
case("empty-strings", "1 messages[2] empty answer", "1 messages[1] empty question",
     outcome="problem")(
    lambda e: put(e, "empty-strings.json", dump([{"instruction": "", "output": ""}])))

# --- columns and formats
case("unknown-columns", "cannot tell the format from the fields", "'answer', 'question'")(
    lambda e: put(e, "qa.json", dump([{"question": "q", "answer": "a"}])))
case("renamed-answer-column", "renamed.json: row 1: field 'output' is missing")(lambda e: put(
    e, "renamed.json", dump([{"instruction": "q", "response": "a"}])))
case("a-row-without-its-answer", "row 2: field 'output' is missing")(lambda e: put(
    e, "no-output.json", dump([ALPACA[0], {"instruction": "q"}])))
case("mixed-formats", "row 1: the row is in alpaca format but the file reads as sharegpt")(
    lambda e: put(e, "mixed.json", dump([ALPACA[0], {"conversations": [
        {"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}])))
case("alpaca-non-string-values",
     "1 messages[2] content must be text or a list of text parts, got a list of str",
     outcome="problem")(lambda e: put(e, "types.json", dump(
         [{"instruction": 42, "output": ["a", "b"]}])))

# --- roles and turns
case("sharegpt-unknown-role", "row 1: field 'conversations' turn 2: unknown role 'robot'")(
    lambda e: put(e, "robot.json", dump([{"conversations": [
        {"from": "human", "value": "hi"}, {"from": "robot", "value": "beep"}]}])))
case("sharegpt-turn-without-from", "row 1: field 'conversations' turn 1 needs 'from'")(
    lambda e: put(e, "no-from.json", dump([{"conversations": [{"value": "hi"}]}])))
case("sharegpt-value-missing", "1 messages[1] empty question", outcome="problem")(lambda e: put(
    e, "no-value.json", dump([{"conversations": [{"from": "human"},
                                                 {"from": "gpt", "value": "hello"}]}])))
case("messages-unknown-role", "1 messages[2] unknown role 'robot'", outcome="problem")(
    lambda e: put(e, "role.jsonl", jsonl({"messages": [
        {"role": "user", "content": "hi"}, {"role": "robot", "content": "beep"}]})))
case("two-user-turns-in-a-row", "1 messages[2] two user turns in a row",
     outcome="problem")(
    lambda e: put(e, "two-users.jsonl", jsonl({"messages": [
        {"role": "user", "content": "hi"}, {"role": "user", "content": "again"},
        {"role": "assistant", "content": "hello"}]})))

# --- bytes and encodings
case("binary-data-named-json", "binary data, not text (a NUL byte at byte")(lambda e: put(
    e, "picture.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8))
case("latin-1-text", "not UTF-8 text: byte 0xE9 on line 2")(lambda e: put(
    e, "latin.jsonl", jsonl(ALPACA[0], {"instruction": "Un café ?", "output": "Oui."}),
    encoding="cp1252"))
case("nul-byte-in-a-line", "line 2, column 19 holds a NUL byte")(lambda e: put(
    e, "nul.jsonl", jsonl(ALPACA[0]) + '{"instruction": "a\x00b", "output": "c"}\n'))
case("gbk-encoded-chinese", "Loaded 1 rows", "你好，请介绍一下你自己。", outcome="ok")(
    lambda e: put(e, "gbk.json", dump(ZH), encoding="gbk"))
case("utf8-bom-json", "Loaded 2 rows", outcome="ok")(lambda e: put(
    e, "bom.json", codecs.BOM_UTF8 + dump(ALPACA).encode()))
case("utf8-bom-csv", "Loaded 2 rows", "Detected format: alpaca", outcome="ok")(lambda e: put(
    e, "bom.csv", codecs.BOM_UTF8 + b"instruction,output\nWho are you?,A bot.\nhi,hello\n"))
case("utf16-from-notepad", "Loaded 2 rows", outcome="ok")(lambda e: put(
    e, "utf16.json", dump(ALPACA), encoding="utf-16"))
case("nul-escaped-in-json-text", "Loaded 1 rows", outcome="ok")(lambda e: put(
    e, "nul-escaped.json", '[{"instruction": "a\\u0000b", "output": "c"}]'))

# --- CSV and parquet
case("csv-broken-quoting", "the quoted CSV field that starts on line 3 is never closed")(
    lambda e: put(e, "quote.csv", 'instruction,output\nhi,hello\n"open,never closed\nx,y\n'))
case("csv-ragged-row", "line 2 has 3 fields but the header has 2")(lambda e: put(
    e, "ragged.csv", "instruction,output\nWhat is 1,5?,1.5\n"))
case("csv-na-and-leading-zeros-kept", "Loaded 2 rows", "NA", "007", outcome="ok")(
    lambda e: put(e, "na.csv", "instruction,output\nWhat is missing?,NA\nBond?,007\n"))
case("parquet-nested-conversations", "Loaded 2 rows", "Detected format: sharegpt", "hi",
     outcome="ok")(lambda e: put(e, "nested.parquet", parquet([
         {"conversations": [{"from": "human", "value": "hi"},
                            {"from": "gpt", "value": "hello"}]},
         {"conversations": [{"from": "human", "value": "bye"},
                            {"from": "gpt", "value": "see you"}]}])))
case("parquet-nested-struct-answer",
     "1 messages[2] content must be text or a list of text parts, got dict",
     outcome="problem")(lambda e: put(e, "struct.parquet", parquet(
         [{"instruction": "q", "output": {"text": "a", "score": 1}}])))
case("parquet-damaged", "cannot be read", "Parquet")(lambda e: put(
    e, "damaged.parquet", b"PAR1" + b"\x07" * 300 + b"PAR1"))

# --- not a data file at all
case("a-folder-named-json", "bad/folder.json is a folder, not a file")(
    lambda e: (e.bad / "folder.json").mkdir(exist_ok=True) or "bad/folder.json")
case("a-plain-folder", "bad/plain-folder is a folder, not a file")(
    lambda e: (e.bad / "plain-folder").mkdir(exist_ok=True) or "bad/plain-folder")
case("unsupported-suffix", "unsupported file type '.xlsx'")(lambda e: put(
    e, "sheet.xlsx", b"PK\x03\x04" + b"\x00" * 100))
case("missing-file", "File not found: bad/not-there.json")(lambda e: "bad/not-there.json")

# --- paths that lead out of the workspace
case("dotdot-to-a-sibling-folder", "is outside the workspace")(
    lambda e: f"../{e.outside.name}/secret.json")
case("dotdot-to-etc-passwd", "is outside the workspace")(
    lambda e: "bad/../../../../../../etc/passwd")
case("absolute-path-outside", "is outside the workspace")(
    lambda e: str(e.outside / "secret.json"))
case("etc-passwd", "/etc/passwd is outside the workspace")(lambda e: "/etc/passwd")


def link(env, name: str, target: Path) -> str:
    path = env.bad / name
    if not path.is_symlink():
        path.symlink_to(target)
    return f"bad/{name}"


case("symlink-to-etc-passwd", "bad/passwd.json is outside the workspace")(
    lambda e: link(e, "passwd.json", Path("/etc/passwd")))
case("symlink-to-a-file-outside", "bad/secret.json is outside the workspace")(
    lambda e: link(e, "secret.json", e.outside / "secret.json"))
case("symlinked-folder-outside", "bad/elsewhere/secret.json is outside the workspace")(
    lambda e: link(e, "elsewhere", e.outside) + "/secret.json")
case("dataset-info-file-name-escapes", "points outside", "keep the data")(lambda e: (
    (e.bad / "info").mkdir(exist_ok=True),
    put(e, "info/dataset_info.json", dump({"x": {"file_name": "../../../outside/x.json"}})),
)[1] + "#x")

# --- uploads from the user's machine
case("upload-invalid-json", "invalid JSON at line 1", via="upload")(lambda e: put(
    e, "up:broken.json", '[{"instruction": 1,'))
case("upload-binary-named-jsonl", "binary data, not text", via="upload")(lambda e: put(
    e, "up:photo.jsonl", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256))))
case("upload-gbk-chinese", "Loaded 1 rows", "你好", outcome="ok", via="upload")(
    lambda e: put(e, "up:gbk-up.json", dump(ZH), encoding="gbk"))
case("upload-dotdot-name", "Loaded 2 rows", "datasets/uploads/escape.json", outcome="ok",
     via="upload")(lambda e: put(e, "up:..escape.json", dump(ALPACA)))


@pytest.mark.parametrize("bad", CASES, ids=str)
def test_a_bad_file_is_named_and_nothing_is_lost(env, bad: Case):
    source = bad.make(env)
    open_good(env)
    before = snapshot(env.ws, env.mine)
    out = upload(env.client, Path(source)) if bad.via == "upload" else load(env.client, source)
    status = text_of(out["status"])
    seen = " | ".join([status, *problems_of(out), *map(str, rows_of(out, "table"))])
    assert_readable(seen, typed=source if bad.via == "load" else "")
    level = "data-msg-error" if bad.outcome == "error" else "data-msg-ok"
    assert level in out["status"], status
    for words in bad.says:
        assert words in seen, seen
    after = snapshot(env.ws, env.mine)
    if bad.via == "upload" and bad.outcome == "ok":  # the one expected change: the copy
        new = {k: v for k, v in after.items() if k not in before}
        assert list(new.values()) == [hashlib.sha256(Path(source).read_bytes()).hexdigest()]
        assert Path(next(iter(new))).parent == env.ws / "datasets" / "uploads"
        after = {k: v for k, v in after.items() if k in before}
    assert after == before
    assert_server_answers(env, still_loaded=bad.outcome == "error")


def test_an_upload_of_another_file_type_is_refused_by_name(env):
    """Gradio checks the button's file types itself; nothing reaches the workspace."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    tool = env.mine / "setup.exe"
    tool.write_bytes(b"MZ\x90\x00" + bytes(64))
    open_good(env)
    before = snapshot(env.ws, env.mine)
    with pytest.raises(AppError, match=r"Invalid file type.*'\.json', '\.jsonl', '\.csv'"):
        env.client.predict(handle_file(str(tool)), "document", "en", api_name="/data_upload")
    assert snapshot(env.ws, env.mine) == before
    assert_server_answers(env, still_loaded=True)


def test_a_refusal_names_the_problem_in_chinese_too(env):
    source = put(env, "binary-zh.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    open_good(env)
    out = call(env.client, "data_load", source, "auto", "document", lang="zh")
    status = text_of(out["status"])
    assert "bad/binary-zh.json：这是二进制数据而不是文本（第 8 字节是 NUL 字节）" in status, status
    assert_server_answers(env, still_loaded=True)


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("name, says, saved", [
    ("../../escape", "Saved 63 rows to datasets/escape.jsonl", "datasets/escape.jsonl"),
    ("..", "give the dataset a name", None),
    ("/etc/cron.d/evil", "Saved 63 rows to datasets/etc-cron.d-evil.jsonl",
     "datasets/etc-cron.d-evil.jsonl"),
], ids=["dotdot-name-saved-inside", "only-dots", "absolute-name-saved-inside"])
def test_a_bad_save_name_stays_inside_the_workspace(env, name, says, saved):
    open_good(env)
    before = snapshot(env.ws, env.mine)
    out = call(env.client, "data_save", name)
    message = text_of(out["save_msg"])
    assert_readable(message, typed=name)
    assert says in message, message
    after = snapshot(env.ws, env.mine)
    new = sorted(set(after) - set(before))
    assert new == ([str(env.ws / saved)] if saved else [])
    assert {k: after[k] for k in before} == before
    assert_server_answers(env, still_loaded=True)


def test_two_sessions_saving_one_name_never_overwrite_each_other(env):
    """Both sessions press Save at the same moment; one gets the name, the other hears that it
    is taken, and the file is the winner's, whole."""
    from gradio_client import Client

    a, b = env.client, Client(env.url, verbose=False)
    open_good(env)
    small = put(env, "two-rows.json", dump(ALPACA))
    assert "Loaded 2 rows" in load(b, small)["status"]
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda c: call(c, "data_save", "race"), (a, b)))
    messages = [text_of(o["save_msg"]) for o in outs]
    won = [m for m in messages if "Saved" in m]
    lost = [m for m in messages if "race.jsonl already exists (name taken)" in m]
    assert len(won) == 1 and len(lost) == 1, messages
    lines = (env.ws / "datasets" / "race.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == (GOOD_ROWS if "63 rows" in won[0] else 2)
    assert all(json.loads(line)["messages"] for line in lines)


def test_racing_saves_and_uploads_each_get_a_name_of_their_own(env):
    """Eight threads at once, released together: one save wins the name, every upload of one
    file name gets its own copy, and no temporary file is left behind."""
    from studio.engine.data import store
    from studio.engine.errors import DataError

    records = [{"messages": [{"role": "user", "content": f"q{i}"},
                             {"role": "assistant", "content": f"a{i}"}]} for i in range(50)]
    start = threading.Barrier(8)

    def save(_):
        start.wait()
        try:
            return store.save_dataset(env.workspace, "contended", records)
        except DataError as exc:
            return exc.reason.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(save, range(8)))
    assert results.count("data_name_taken") == 7
    src = env.mine / "same-name.json"
    src.write_text(dump(ALPACA * 200), encoding="utf-8")

    def store_it(_):
        start.wait()
        return store.store_upload(env.workspace, str(src))

    with ThreadPoolExecutor(8) as pool:
        stored = list(pool.map(store_it, range(8)))
    assert len(set(stored)) == 8
    assert all((env.ws / s).read_bytes() == src.read_bytes() for s in stored)
    assert not [p for p in (env.ws / "datasets").rglob(".*")]


# --------------------------------------------------------------------------- the caps


def test_a_200_mb_file_is_refused_at_once_naming_its_size(env):
    big = env.bad / "huge.jsonl"
    chunk = (json.dumps(ALPACA[0]) + "\n").encode() * 20_000
    try:
        with open(big, "wb") as fh:
            while fh.tell() < 200_000_000:
                fh.write(chunk)
            fh.truncate(200_000_000)  # exactly 200 MB; the cut last line is never read
        open_good(env)
        before = snapshot(env.ws, env.mine)
        started = time.monotonic()
        out = load(env.client, "bad/huge.jsonl")
        status = text_of(out["status"])
        assert_readable(status, typed="bad/huge.jsonl")
        assert "bad/huge.jsonl is 200 MB, more than the 100 MB the Data tab reads" in status
        assert_server_answers(env, still_loaded=True)
        assert time.monotonic() - started < 10  # never parsed, so never a frozen server
        assert snapshot(env.ws, env.mine) == before
    finally:
        big.unlink(missing_ok=True)


def test_an_upload_over_the_read_limit_is_refused_before_it_is_copied(env, monkeypatch):
    from studio.engine.data import limits

    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 1000)  # the server runs in this process
    path = env.mine / "too-big.json"
    path.write_text(dump(ALPACA * 14).ljust(1800), encoding="utf-8")  # 1.8 kB, valid
    open_good(env)
    before = snapshot(env.ws, env.mine)
    out = upload(env.client, path)
    status = text_of(out["status"])
    assert "too-big.json is 1.8 kB, more than the 1 kB the Data tab reads" in status, status
    assert snapshot(env.ws, env.mine) == before
    monkeypatch.undo()
    assert_server_answers(env, still_loaded=True)


def test_a_session_keeps_at_most_max_rows(env, monkeypatch):
    from studio.engine.data import limits

    monkeypatch.setattr(limits, "MAX_ROWS", 10)
    out = load(env.client, GOOD)
    status = text_of(out["status"])
    assert "data-msg-warn" in out["status"]
    assert f"Loaded the first 10 rows of {GOOD}: it has more rows than one browser session " \
           "keeps (10)" in status, status
    assert "of 10 ·" in out["page_info"]
    added = call(env.client, "data_add", dump({"instruction": "q", "output": "a"}), "")
    assert "already has 10 rows, the most one browser session keeps" in text_of(
        added["edit_msg"])
    monkeypatch.undo()
    assert_server_answers(env, still_loaded=False)


def test_a_1_mb_row_loads_and_previews(env):
    text = "The quick brown fox jumps over the lazy dog. " * 23_300  # 1 MB, one answer
    source = put(env, "long-row.json", dump([{"instruction": "Summarise this.", "output": text}]))
    out = load(env.client, source)
    assert "Loaded 1 rows" in out["status"]
    assert out["table"]["data"][0][3].endswith("…")  # the cell is cut, the row is whole
    assert json.loads(out["editor"])["messages"][-1]["content"] == text
    shown = call(env.client, "data_preview", str(env.tiny), 1, True)
    assert "data-msg-error" not in shown["preview"] and text in html.unescape(shown["preview"])
    assert_server_answers(env, still_loaded=False)


def test_links_out_of_the_workspace_are_not_offered(env):
    from studio.engine.data.store import list_datasets

    link(env, "passwd.json", Path("/etc/passwd"))
    link(env, "secret.json", env.outside / "secret.json")
    listed = list_datasets(env.workspace)
    assert "bad/passwd.json" not in listed and "bad/secret.json" not in listed


# --------------------------------------------------------------------------- the hub


def test_a_hub_that_cannot_be_reached_is_a_message_within_seconds(env, monkeypatch):
    """This machine has no network: the loader must say so, not retry for half a minute."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    open_good(env)
    started = time.monotonic()
    out = load(env.client, "no-such-owner/no-such-dataset")
    status = text_of(out["status"])
    assert time.monotonic() - started < 15, status
    assert_readable(status, typed="")
    assert "hub dataset 'no-such-owner/no-such-dataset'" in status, status
    assert "cannot be reached" in status or "was not found" in status, status
    assert_server_answers(env, still_loaded=True)


def test_a_hub_dataset_is_streamed_and_only_its_first_rows_taken(env, monkeypatch):
    import datasets

    from studio.engine.data import limits, read

    asked = {}

    class Stream:
        def take(self, n):
            asked["take"] = n
            return iter([dict(ALPACA[0]) for _ in range(n)])

    def fake_load(name, split, **kwargs):
        asked.update(name=name, split=split, **kwargs)
        return Stream()

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    monkeypatch.setattr(read, "_hub_reachable", lambda dataset_id: None)
    monkeypatch.setattr(limits, "MAX_ROWS", 5)
    out = load(env.client, "some-owner/a-billion-rows")
    assert asked == {"name": "some-owner/a-billion-rows", "split": "train", "streaming": True,
                     "take": 6}
    assert "Loaded the first 5 rows of some-owner/a-billion-rows" in text_of(out["status"])
    monkeypatch.undo()
    assert_server_answers(env, still_loaded=False)
