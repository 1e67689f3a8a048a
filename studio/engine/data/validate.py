"""Row problems a person should fix before training, each with its row number and field.

``validate`` reads normalized records (see ``formats``) and returns ``Problem``s: empty answers,
unknown roles, a system turn that is not first, two user turns in a row, a conversation with
nothing to learn from. Each carries a ``Reason`` code so the Data tab can list it in the page's
language; the trainer skips the rows they name and logs why.
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
            if not rec["text"].strip():
                problems.append(Problem(i, "text", "problem_empty_text"))
            continue
        if "chosen" in rec:
            problems += _check_turns(i, "prompt", rec["prompt"], needs_answer=False)
            for side in ("chosen", "rejected"):
                if not any(m["content"].strip() for m in rec[side]):
                    problems.append(Problem(i, side, "problem_empty_side", {"side": side}))
            continue
        problems += _check_turns(i, "messages", rec["messages"], needs_answer=True)
    return problems


def _check_turns(i: int, field: str, messages: list[dict], needs_answer: bool) -> list[Problem]:
    problems, previous = [], None
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
        if role == "assistant" and not msg["content"].strip():
            problems.append(Problem(i, where, "problem_empty_answer"))
        previous = role
    if needs_answer and not any(m["role"] == "assistant" for m in messages):
        problems.append(Problem(i, field, "problem_no_answer"))
    return problems
