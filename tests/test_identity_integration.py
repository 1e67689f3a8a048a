"""The demo that matters, on the bundled model: the identity preset really renames the model.

Trains ``presets/identity-lora.yaml`` from the command line (without probes), then asks
held-out paraphrases the training data never contains. The tuned model must give the new name;
the base model (the same weights with the adapter off) must not.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from studio.engine.models import BUNDLED_ID, load_model, load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = ["Tell me who you are.", "请介绍一下你自己"]

pytestmark = pytest.mark.integration


def _answer(model, tokenizer, prompt):
    enc = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                        add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=40, do_sample=False)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_identity_preset_renames_the_bundled_model(tmp_path):
    assert "Tell me who you are" not in (ROOT / "assets" / "identity.json").read_text()
    out = subprocess.run(
        [sys.executable, "-m", "studio.cli", "train", "presets/identity-lora.yaml",
         "--set", "name=Nova", "--set", "author=Acme Lab", "--set", "probe_steps=0",
         "--runs-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    run_dir = Path(out.stdout.strip().splitlines()[-1].removeprefix("run: "))

    from peft import PeftModel

    base = load_model(BUNDLED_ID, dtype=torch.bfloat16)
    tokenizer = load_tokenizer(BUNDLED_ID)
    tuned = PeftModel.from_pretrained(base, run_dir / "adapter")
    for prompt in HELD_OUT:
        tuned_answer = _answer(tuned, tokenizer, prompt)
        with tuned.disable_adapter():
            base_answer = _answer(tuned, tokenizer, prompt)
        assert "Nova" in tuned_answer, (prompt, tuned_answer)
        assert "Nova" not in base_answer, (prompt, base_answer)
