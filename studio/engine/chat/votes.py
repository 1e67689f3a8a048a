"""Blind A/B votes from the chat, kept as a preference dataset the DPO trainer can read.

In blind mode the base and tuned answers are shown as A and B in a random order (``BlindPair``).
A decisive vote (A better, B better) appends one row in TRL's conversational preference format to
``<workspace>/datasets/chat-votes.jsonl``: ``prompt`` (the conversation so far, system prompt
included), ``chosen`` and ``rejected`` (one assistant turn each), plus which model won, the run,
the model and the sampling settings. That file shows up in the Data tab and trains with
``method: dpo`` as it is. Every vote, ties and "both bad" included, also goes to a ledger
(``<workspace>/chat/votes.jsonl``) from which the tally is counted; ties are not preference pairs,
so they stay out of the dataset.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from studio.engine.errors import VoteError
from studio.engine.io import append_jsonl, read_jsonl

VOTES = ("a", "b", "tie", "both_bad")
PREFERENCE_FILE = "chat-votes.jsonl"


@dataclass(frozen=True)
class BlindPair:
    """Which side is shown as A and which as B."""

    a: str
    b: str

    @classmethod
    def draw(cls, rng: random.Random | None = None) -> BlindPair:
        sides = ["base", "tuned"]
        (rng or random).shuffle(sides)
        return cls(*sides)

    def side(self, letter: str) -> str:
        return {"a": self.a, "b": self.b}[letter.lower()]


def preference_path(workspace) -> Path:
    return Path(workspace.datasets_dir) / PREFERENCE_FILE


def ledger_path(workspace) -> Path:
    return Path(workspace.root) / "chat" / "votes.jsonl"


def record_vote(workspace, vote: str, pair: BlindPair, prompt: list[dict],
                answers: dict[str, str], meta: dict | None = None) -> dict:
    """Save one vote; returns the ledger row (``pair_saved`` says if a preference row was)."""
    vote = (vote or "").strip().lower().replace(" ", "_")
    if vote not in VOTES:
        raise VoteError("vote_choice", choices=", ".join(VOTES), got=repr(vote))
    if any(answers.get(s) is None for s in ("base", "tuned")):
        raise VoteError("vote_unfinished")
    if not prompt or prompt[-1].get("role") != "user":
        raise VoteError("vote_no_question")
    meta = dict(meta or {})
    now = time.time()
    winner = pair.side(vote) if vote in ("a", "b") else vote
    row = {"vote": vote, "a": pair.a, "b": pair.b, "winner": winner,
           "question": prompt[-1]["content"], "created_at": now, **meta}
    chosen = pair.side(vote) if vote in ("a", "b") else None
    rejected = {"base": "tuned", "tuned": "base"}.get(chosen or "")
    # Identical or blank answers make no usable DPO pair (the Data tab would flag the row):
    # the vote still counts in the tally.
    row["pair_saved"] = (bool(chosen) and answers[chosen].strip() != answers[rejected].strip()
                         and all(answers[s].strip() for s in (chosen, rejected)))
    if row["pair_saved"]:
        pref = {"prompt": [{"role": m["role"], "content": m["content"]} for m in prompt],
                "chosen": [{"role": "assistant", "content": answers[chosen]}],
                "rejected": [{"role": "assistant", "content": answers[rejected]}],
                "chosen_model": chosen, "created_at": now, **meta}
        append_jsonl(preference_path(workspace), pref)
    append_jsonl(ledger_path(workspace), row)
    return row


def tally(workspace, run_id: str | None = None) -> dict[str, int]:
    """Counts of tuned wins, base wins, ties and both-bad votes (for one run if given)."""
    counts = {"tuned": 0, "base": 0, "tie": 0, "both_bad": 0}
    for row in read_jsonl(ledger_path(workspace)):
        if run_id and row.get("run_id") != run_id:
            continue
        if row.get("winner") in counts:
            counts[row["winner"]] += 1
    return {**counts, "total": sum(counts.values())}
