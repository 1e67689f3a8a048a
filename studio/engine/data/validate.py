"""Row problems a person should fix before training, each with its row number and field.

``validate`` reads normalized records (see ``formats``) and returns ``Problem``s: empty answers,
unknown roles, a system turn that is not first, two user turns in a row, a conversation with
nothing to learn from, content kept as it was because a text model cannot take it (an image
part), a tool result with no call before it, a turn weight other than 0 or 1. Each carries a
``Reason`` code so the Data tab can list it in the page's language; the trainer skips the rows
they name and logs why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.engine.errors import Reason

ROLES = ("system", "user", "assistant", "tool")


@dataclass
class Problem:
    """One validation finding, shown in the Data tab's list and by the CLI."""

    row: int  # 1-based, as people count rows
    field: str
    code: str
    params: dict = field(default_factory=dict)

    @property
    def reason(self) -> Reason:
        return Reason(self.code, self.params)

    @property
    def message(self) -> str:
        return str(self.reason)

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.message}"


def validate(records: list[dict]) -> list[Problem]:
    """Problems a person should fix before training, each with its row number."""
    problems = []
    for i, rec in enumerate(records, 1):
        if "text" in rec:
            if not isinstance(rec["text"], str):
                problems.append(_content_problem(i, "text", rec["text"]))
            elif not rec["text"].strip():
                problems.append(Problem(i, "text", "problem_empty_text"))
            continue
        if "chosen" in rec:
            problems += _check_turns(i, "prompt", rec["prompt"], needs_answer=False)
            for side in ("chosen", "rejected"):
                problems += _check_contents(i, side, rec[side])
                if not any(_says_something(m) for m in rec[side]):
                    problems.append(Problem(i, side, "problem_empty_side", {"side": side}))
            continue
        problems += _check_turns(i, "messages", rec["messages"], needs_answer=True)
    return problems


def _content_problem(i: int, where: str, content) -> Problem:
    if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
        # ["a", "b"]: a list of bare values, not content parts; say what it holds.
        odd = next(type(p).__name__ for p in content if not isinstance(p, dict))
        return Problem(i, where, "problem_content_type", {"got": f"a list of {odd}"})
    if isinstance(content, list):
        kinds = [p.get("type", "?") if isinstance(p, dict) else type(p).__name__
                 for p in content]
        odd = next((k for k in kinds if k not in ("text", "reasoning", "thinking")), "?")
        return Problem(i, where, "problem_part_unsupported", {"part": odd})
    return Problem(i, where, "problem_content_type", {"got": type(content).__name__})


def _says_something(msg: dict) -> bool:
    return bool(msg.get("tool_calls")) or (isinstance(msg["content"], str) and
                                           bool(msg["content"].strip()))


def _check_contents(i: int, field: str, messages: list[dict]) -> list[Problem]:
    problems = []
    for j, msg in enumerate(messages, 1):
        where = f"{field}[{j}]"
        if not isinstance(msg["content"], str):
            problems.append(_content_problem(i, where, msg["content"]))
        if "weight" in msg and msg["weight"] not in (0, 1):
            problems.append(Problem(i, where, "problem_weight", {"got": repr(msg["weight"])}))
    return problems


def _check_turns(i: int, field: str, messages: list[dict], needs_answer: bool) -> list[Problem]:
    problems, previous, calls = _check_contents(i, field, messages), None, False
    for j, msg in enumerate(messages, 1):
        role = msg["role"]
        where = f"{field}[{j}]"
        if role not in ROLES:
            problems.append(Problem(i, where, "problem_unknown_role", {"role": role}))
        elif role == "system" and j != 1:
            problems.append(Problem(i, where, "problem_system_first"))
        elif role == "assistant" and previous not in ("user", "tool"):
            problems.append(Problem(i, where, "problem_no_user_before"))
        elif role == "user" and previous == "user":
            problems.append(Problem(i, where, "problem_two_users"))
        elif role == "tool" and not calls:
            problems.append(Problem(i, where, "problem_tool_result"))
        if role == "assistant" and isinstance(msg["content"], str) and not _says_something(msg):
            problems.append(Problem(i, where, "problem_empty_answer"))
        elif role == "user" and isinstance(msg["content"], str) and not msg["content"].strip():
            # Usually a column mapped to the wrong field: the question would train as nothing.
            problems.append(Problem(i, where, "problem_empty_question"))
        calls = calls or bool(msg.get("tool_calls"))
        previous = role
    if needs_answer and not any(m["role"] == "assistant" for m in messages):
        problems.append(Problem(i, field, "problem_no_answer"))
    return problems
