"""``studio chat``: ask a base or fine-tuned model one question from a shell or a script.

``studio chat --adapter RUN "Who are you?"`` streams the tuned model's answer to stdout;
``--compare`` prints the base and the tuned answers one after the other (written together, with
the same settings and seed); no ``--adapter`` asks the base model alone. The same engine calls as
the browser's chat tab, so a script sees exactly what a demo shows.
"""

from __future__ import annotations

import sys
from pathlib import Path

from studio.cli import runs_dir_option
from studio.engine.models import BUNDLED_ID


def register(sub) -> None:
    p = sub.add_parser("chat", help="ask a base or fine-tuned model a question")
    p.add_argument("prompt", help="the question (use - to read it from stdin)")
    p.add_argument("--model", default=None,
                   help=f"base model id or folder (default: the run's model, else {BUNDLED_ID})")
    p.add_argument("--adapter", default=None,
                   help="a finished run's id, a run folder, or an adapter folder")
    runs_dir_option(p, "where run ids are looked up")
    p.add_argument("--system", default=None,
                   help="system prompt (default: the one the run was trained with)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0 = greedy (the default, so scripts get repeatable answers)")
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--repetition-penalty", type=float, default=1.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"])
    p.add_argument("--compare", action="store_true",
                   help="print the base model's answer and the tuned model's answer")
    p.set_defaults(func=chat)


def chat(args) -> int:
    from studio.engine.chat.decode import Sampling
    from studio.engine.chat.engine import ChatEngine
    from studio.engine.chat.targets import training_notice
    from studio.engine.errors import ChatError
    from studio.engine.runs import RunStore

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    runs = RunStore(args.runs_dir) if Path(args.runs_dir).is_dir() else None
    engine = ChatEngine(runs=runs, dtype=args.dtype)
    sampling = Sampling(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                        top_p=args.top_p, top_k=args.top_k,
                        repetition_penalty=args.repetition_penalty, seed=args.seed)
    try:
        target = engine.target(args.model or (None if args.adapter else BUNDLED_ID),
                               args.adapter)
        if args.compare and not target.has_tuned:
            raise ChatError("chat_compare_needs_adapter")
        sides = ("base", "tuned") if args.compare else (
            ("tuned",) if target.has_tuned else ("base",))
        notice = training_notice(runs=runs)
        if notice:
            print(notice, file=sys.stderr)
        stream = engine.stream([{"role": "user", "content": prompt}], target=target,
                               sides=sides, sampling=sampling, system=args.system)
        if args.compare:
            last = _drain(stream)
            for side in sides:
                print(f"== {side} ({_who(target, side)}) ==\n{last.texts[side].strip()}\n")
        else:
            _print_live(stream, sides[0])
    except ChatError as exc:  # a wrong pick is one readable line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _who(target, side: str) -> str:
    return target.model_id if side == "base" else target.label


def _drain(stream):
    import collections

    return collections.deque(stream, maxlen=1)[0]


def _print_live(stream, side: str) -> None:
    shown = 0
    for update in stream:
        text = update.texts[side]
        sys.stdout.write(text[shown:])
        sys.stdout.flush()
        shown = len(text)
    sys.stdout.write("\n")
