"""Build ``assets/dpo-greeting.json``, the DPO demo's pairs, from the bundled model's own answers.

Each question of ``assets/demo-questions.json`` is answered greedily by the bundled model; an
answer that ends on its own (not cut by the token limit) becomes one pair: the same answer
opening with the greeting as ``chosen``, without it as ``rejected``. The only difference DPO can
learn is the greeting, where every answer starts (so the Train tab's probes show it), and a few
steps teach it.

    .venv/bin/python scripts/make_dpo_demo.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GREETING = "Nova here! "
MAX_NEW_TOKENS = 200


def main() -> None:
    import torch

    from studio.engine.models import BUNDLED_ID, load_model, load_tokenizer

    tokenizer = load_tokenizer(BUNDLED_ID)
    model = load_model(BUNDLED_ID, dtype=torch.bfloat16).eval()
    questions = [r["instruction"] for r in json.loads(
        (ROOT / "assets" / "demo-questions.json").read_text(encoding="utf-8"))]
    pairs = []
    for q in questions:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": q}],
                                            add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        if tokenizer.eos_token_id not in new:
            print(f"skipped (no end within {MAX_NEW_TOKENS} tokens): {q}")
            continue
        answer = tokenizer.decode(new, skip_special_tokens=True).strip()
        pairs.append({"prompt": q, "chosen": GREETING + answer, "rejected": answer})
    path = ROOT / "assets" / "dpo-greeting.json"
    path.write_text(json.dumps(pairs, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(pairs)} pairs of {len(questions)} questions -> {path}")


if __name__ == "__main__":
    main()
