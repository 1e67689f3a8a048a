"""Prompts for multiple-choice scoring, identical to the reference harness's.

``plain`` reproduces EleutherAI lm-evaluation-harness's default MMLU, C-Eval and CMMLU tasks
character for character: a subject header, k solved examples from the dev split (the first k, in
file order), then the question, each as ``question\\nA. ..\\nD. ..\\nAnswer:``; the answers are the
continuations " A" to " D". ``chat`` sends the same content through the model's chat template (the
header as the system message, as the harness's ``--apply_chat_template`` does) and scores "A" to
"D" as the start of the assistant's reply.
"""

from __future__ import annotations

from studio.engine.errors import EvalDataError
from studio.engine.scoring.data import LETTERS, Question, Subject

FORMATS = ("plain", "chat")
MAX_SHOTS = 5

HEADERS = {
    "mmlu": "The following are multiple choice questions (with answers) about {name}.\n\n",
    "ceval": "以下是中国关于{name}的单项选择题，请选出其中的正确答案。\n\n",
    "cmmlu": "以下是关于{name}的单项选择题，请直接给出正确答案的选项。\n\n",
}
ANSWER_CUES = {"mmlu": "Answer:", "ceval": "答案：", "cmmlu": "答案："}


def header(benchmark: str, subject: Subject) -> str:
    return HEADERS[benchmark].format(name=subject.name)


def format_question(benchmark: str, q: Question) -> str:
    # The harness strips only the question, never the options.
    options = "".join(f"\n{letter}. {text}" for letter, text in zip(LETTERS, q.choices))
    return f"{q.question.strip()}{options}\n{ANSWER_CUES[benchmark]}"


def select_shots(dev: list[Question], shots: int) -> list[Question]:
    """The first ``shots`` dev questions, in file order, so every run sees the same examples."""
    if not 0 <= shots <= MAX_SHOTS:
        raise EvalDataError("eval_shots_range", most=MAX_SHOTS, shots=shots)
    if shots > len(dev):
        raise EvalDataError("eval_shots_dev", shots=shots, available=len(dev))
    return dev[:shots]


def fewshot_block(benchmark: str, examples: list[Question]) -> str:
    return "".join(f"{format_question(benchmark, ex)} {ex.answer}\n\n" for ex in examples)


def plain_prompt(benchmark: str, subject: Subject, examples: list[Question],
                 q: Question) -> str:
    return header(benchmark, subject) + fewshot_block(benchmark, examples) + \
        format_question(benchmark, q)


def chat_messages(benchmark: str, subject: Subject, examples: list[Question],
                  q: Question) -> list[dict]:
    user = fewshot_block(benchmark, examples) + format_question(benchmark, q)
    return [{"role": "system", "content": header(benchmark, subject).strip()},
            {"role": "user", "content": user}]


def chat_prompt(tokenizer, benchmark: str, subject: Subject, examples: list[Question],
                q: Question) -> str:
    messages = chat_messages(benchmark, subject, examples, q)
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=True)
    except Exception:  # some templates refuse a system turn: fold the header into the user's
        merged = [{"role": "user", "content": f"{messages[0]['content']}\n\n"
                                              f"{messages[1]['content']}"}]
        return tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)


def build_prompt(fmt: str, tokenizer, benchmark: str, subject: Subject,
                 examples: list[Question], q: Question) -> str:
    if fmt == "plain":
        return plain_prompt(benchmark, subject, examples, q)
    if fmt == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise EvalDataError("eval_chat_needs_template")
        return chat_prompt(tokenizer, benchmark, subject, examples, q)
    raise EvalDataError("eval_format_unknown", fmt=fmt, choices=" or ".join(FORMATS))


def continuations(fmt: str) -> list[str]:
    """What each answer looks like right after the prompt: " A" in plain text, "A" in a chat."""
    return [(" " if fmt == "plain" else "") + letter for letter in LETTERS]


def encode_pair(tokenizer, context: str, continuation: str, add_special_tokens: bool,
                move_spaces: bool = True) -> tuple[list[int], list[int]]:
    """Token ids of the context and of the continuation, split as the harness splits them.

    Trailing whitespace of the context moves to the continuation, the two are encoded together,
    and the continuation is whatever follows the context's own encoding. A chat prompt keeps its
    final newline (``move_spaces=False``): the reply starts right after it.
    """
    spaces = len(context) - len(context.rstrip()) if move_spaces else 0
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation, add_special_tokens=add_special_tokens)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=add_special_tokens)["input_ids"]
    return ctx, whole[len(ctx):]
