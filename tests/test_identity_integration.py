"""The demo that matters, on the bundled model: the identity preset really renames the model.

Runs the README's own "same run from a shell" command (read from README.md, so a README that
drifts from the real command line fails), only without probes and into a temporary runs folder,
then asks held-out paraphrases the training data never contains. The tuned model must give the
name the README's command sets; the base model (the same weights with the adapter off) must not.
The output must look like the README shows it: the last step as ``step N/N`` and the run folder.
"""

import re
import subprocess
from pathlib import Path

import pytest
import torch

from studio.engine.models import BUNDLED_ID, load_model, load_tokenizer
from tests.readme import as_python, shell_quickstart

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


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The README's shell command run once: (its output, the run folder, the name it sets)."""
    tmp_path = tmp_path_factory.mktemp("identity")
    argv, shown = shell_quickstart()
    sets = dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv) if word == "--set")
    out = subprocess.run(as_python(argv) + ["--set", "probe_steps=0", "--runs-dir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("run: ")
    return out, shown, Path(last.removeprefix("run: ")), sets["name"]


def test_identity_preset_renames_the_bundled_model(trained):
    assert "Tell me who you are" not in (ROOT / "assets" / "identity.json").read_text()
    out, shown, run_dir, name = trained  # name: what the README promises the model answers
    # What the README shows: "... step 24/24 loss=... ..." and "run: runs/<stamp>-identity-lora".
    (steps,) = [m.group(0) for line in shown if (m := re.search(r"step (\d+)/\1\b", line))]
    assert steps in out.stdout
    (readme_run,) = [Path(line.removeprefix("run: ")).name for line in shown
                     if line.startswith("run: ")]
    assert re.fullmatch(re.sub(r"\d", r"\\d", readme_run), run_dir.name), (readme_run, run_dir)

    from peft import PeftModel

    base = load_model(BUNDLED_ID, dtype=torch.bfloat16)
    tokenizer = load_tokenizer(BUNDLED_ID)
    tuned = PeftModel.from_pretrained(base, run_dir / "adapter")
    for prompt in HELD_OUT:
        tuned_answer = _answer(tuned, tokenizer, prompt)
        with tuned.disable_adapter():
            base_answer = _answer(tuned, tokenizer, prompt)
        assert name in tuned_answer, (prompt, tuned_answer)
        assert name not in base_answer, (prompt, base_answer)


def test_the_identity_run_serves_and_exports_to_gguf_as_the_deploy_tab_does(trained, tmp_path):
    """Served to the openai client it says its new name; so does its GGUF file, read back."""
    import openai
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.engine.export.deploy import export
    from studio.engine.runs import RunStore
    from studio.engine.serve.server import ServeOptions, StudioServer
    from tests.ui_server import free_port

    _, _, run_dir, name = trained
    store = RunStore(run_dir.parent)
    server = StudioServer(ServeOptions(port=free_port()), runs=store).start()
    try:
        client = openai.OpenAI(base_url=server.options.url, api_key="none", max_retries=0)
        asked = [{"role": "user", "content": HELD_OUT[0]}]
        tuned = client.chat.completions.create(model=run_dir.name, messages=asked,
                                               temperature=0, max_tokens=40)
        base = client.chat.completions.create(model=BUNDLED_ID, messages=asked, temperature=0,
                                              max_tokens=40)
    finally:
        server.stop()
    assert name in tuned.choices[0].message.content
    assert name not in base.choices[0].message.content
    done = export("gguf", store.get(run_dir.name), tmp_path, quant="q8_0")
    assert (done.path.parent / "merged" / "model.safetensors").exists()  # merged on the way
    assert f"FROM ./{done.path.name}" in (done.path.parent / "Modelfile").read_text()
    model = AutoModelForCausalLM.from_pretrained(done.path.parent, gguf_file=done.path.name)
    tokenizer = AutoTokenizer.from_pretrained(done.path.parent, gguf_file=done.path.name)
    assert name in _answer(model, tokenizer, HELD_OUT[0])
