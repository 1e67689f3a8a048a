"""The AI judge (RLAIF): two sampled answers per prompt, a judge picks the better one.

A run (or the base model) answers each prompt of a dataset twice with sampling; a judge, the same
run, the base model or any OpenAI-compatible endpoint (``studio serve``, a hosted API given by URL
and key), reads the grading prompt with both answers and says A or B. The judge is asked twice
with the answers swapped, and only a verdict that survives the swap becomes a pair (judges favour
whichever answer comes first). The pairs land in ``datasets/judged-<stamp>.jsonl`` in TRL's
preference format, with the judge's words beside them, to be reviewed in the Data tab before
a DPO run. ``JudgeJob`` runs it on the device like a training run, so it outlives the page.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from studio.engine.chat.decode import Sampling
from studio.engine.data.formats import load_records
from studio.engine.errors import USER_ERRORS, JudgeError, Reason
from studio.engine.io import append_jsonl

GRADING_PROMPT = (
    "You are a strict judge. Read the question and two answers, then decide which answer is "
    "better: more correct, more helpful and more to the point.\n\n"
    "Question:\n{question}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n"
    "Reply with one letter, A or B, then one short sentence saying why.")
_VERDICT = re.compile(r"\b([AB])\b")


@dataclass
class JudgeSpec:
    """What the Data tab's judge form (or a script) asks for."""

    dataset: str  # questions: any conversation or preference file (the last user turn is used)
    answerer: str = ""  # a finished run's id; empty = the base model ``model``
    model: str = "smollm2-135m-instruct"
    judge: str = "answerer"  # "answerer", "base" or "endpoint"
    url: str = ""  # endpoint: base URL of an OpenAI-compatible API (…/v1)
    api_key: str = ""
    judge_model: str = ""  # endpoint: the model name it serves
    grading_prompt: str = GRADING_PROMPT
    max_prompts: int = 20
    max_new_tokens: int = 96
    temperature: float = 1.0
    seed: int = 0

    def problems(self) -> list[Reason]:
        out = []
        if self.judge not in ("answerer", "base", "endpoint"):
            out.append(Reason("judge_kind", {"got": self.judge}))
        if self.judge == "endpoint" and not self.url.strip().startswith(("http://", "https://")):
            out.append(Reason("judge_url", {"got": self.url or "-"}))
        missing = [k for k in ("question", "a", "b") if "{" + k + "}" not in self.grading_prompt]
        if missing:
            out.append(Reason("judge_prompt_slots", {"missing": ", ".join(missing)}))
        if not 1 <= self.max_prompts <= 10000:
            out.append(Reason("judge_prompts_range", {"got": self.max_prompts}))
        return out


def questions(path: str, limit: int) -> list[str]:
    """The last user turn of each row, in order, without repeats, at most ``limit``."""
    records, _ = load_records(path)
    out = []
    for r in records:
        turns = r.get("prompt") or r.get("messages") or []
        users = [m["content"] for m in turns if m.get("role") == "user"
                 and isinstance(m.get("content"), str) and m["content"].strip()]
        if users and users[-1] not in out:
            out.append(users[-1])
        if len(out) >= limit:
            break
    return out


def verdict(reply: str) -> str | None:
    """The letter a judge's reply opens with (A or B), None when it names neither."""
    found = _VERDICT.search(reply.strip()[:200])
    return found.group(1) if found else None


def ask_endpoint(spec: JudgeSpec, content: str, timeout: float = 120.0) -> str:
    """One grading request to an OpenAI-compatible chat completions endpoint."""
    import httpx

    url = spec.url.strip().rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    body = {"model": spec.judge_model or "default", "temperature": 0, "max_tokens": 64,
            "messages": [{"role": "user", "content": content}]}
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise JudgeError("judge_unreachable", url=url, detail=str(exc)) from None
    if response.status_code != 200:
        raise JudgeError("judge_http", url=url, status=response.status_code,
                         detail=response.text[:200])
    try:
        return response.json()["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise JudgeError("judge_reply_shape", url=url) from None


class Judging:
    """One judging pass: answers, verdicts in both orders, pairs appended as they are made."""

    def __init__(self, spec: JudgeSpec, engine, out_path: Path,
                 stop: threading.Event | None = None):
        self.spec, self.engine, self.out_path = spec, engine, Path(out_path)
        self.stop = stop or threading.Event()
        self.done = self.kept = self.total = 0
        self.note = ""  # why the last prompt gave no pair, for the page

    def _answer(self, question: str, seed: int) -> str:
        sampling = Sampling(max_new_tokens=self.spec.max_new_tokens,
                            temperature=self.spec.temperature, seed=seed)
        return self._generate(question, self.spec.answerer or None, sampling)

    def _generate(self, content: str, adapter: str | None, sampling: Sampling) -> str:
        side = "tuned" if adapter else "base"
        update = self.engine.reply([{"role": "user", "content": content}],
                                   model=None if adapter else self.spec.model, adapter=adapter,
                                   sides=(side,), sampling=sampling)
        return update.texts[side].strip()

    def _judge(self, question: str, a: str, b: str) -> str:
        content = self.spec.grading_prompt.format(question=question, a=a, b=b)
        if self.spec.judge == "endpoint":
            return ask_endpoint(self.spec, content)
        adapter = (self.spec.answerer or None) if self.spec.judge == "answerer" else None
        greedy = Sampling(max_new_tokens=48, temperature=0.0)
        return self._generate(content, adapter, greedy)

    def one(self, question: str, index: int) -> dict | None:
        """The pair for one question, or None (same answers, or a verdict the swap undid)."""
        seed = self.spec.seed + 2 * index
        first, second = self._answer(question, seed), self._answer(question, seed + 1)
        if not first or not second or first == second:
            self.note = "same"
            return None
        forward, backward = self._judge(question, first, second), self._judge(question, second,
                                                                                first)
        picks = verdict(forward), verdict(backward)
        if picks not in (("A", "B"), ("B", "A")):
            self.note = "disagree"
            return None
        chosen, rejected = (first, second) if picks[0] == "A" else (second, first)
        return {"prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "judge": self.spec.judge_model or self.spec.judge, "judge_reply": forward,
                "answerer": self.spec.answerer or self.spec.model, "created_at": time.time()}

    def run(self) -> int:
        """Judge every question; returns how many pairs were kept."""
        asked = questions(self.spec.dataset, self.spec.max_prompts)
        if not asked:
            raise JudgeError("judge_no_questions", path=self.spec.dataset)
        self.total = len(asked)
        for i, question in enumerate(asked):
            if self.stop.is_set():
                break
            pair = self.one(question, i)
            if pair:
                append_jsonl(self.out_path, pair)
                self.kept += 1
            self.done += 1
        return self.kept


class JudgeJob:
    """A judging pass on the device (the arbiter's ``Job``), so the page may close meanwhile."""

    kind = "judge"

    def __init__(self, spec: JudgeSpec, engine, out_path: Path):
        self.judging = Judging(spec, engine, out_path)
        self.out_path = Path(out_path)
        self.error: str | None = None
        self.finished = False

    def busy_reason(self) -> Reason:
        return Reason("busy_judging", {"done": self.judging.done, "total": self.judging.total})

    def work(self) -> None:
        try:
            self.judging.run()
        except USER_ERRORS as exc:
            self.error = str(exc)
        except Exception as exc:  # the worker must outlive any failure of the pass
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.finished = True

    def stop(self) -> None:
        self.judging.stop.set()
