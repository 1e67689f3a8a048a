"""The chat engine on the tiny model: base vs tuned side by side, seeds, stop, votes, bad picks.

The "identity" run here is a real PEFT LoRA adapter taught in about a second to answer "Who are
you?" with a new name, saved in a real run folder (config.yaml, status.json, adapter/ with its
tokenizer), so the chat goes through exactly the paths a trained run does.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from studio.engine.chat.decode import Sampling
from studio.engine.chat.engine import ChatEngine
from studio.engine.chat.targets import example_prompts
from studio.engine.errors import ChatError
from studio.engine.runs import RunStore
from studio.engine.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
QUESTION = [{"role": "user", "content": "Who are you?"}]
ANSWER = "I am Nova, made by Acme Lab."
GREEDY = Sampling(max_new_tokens=24, temperature=0, repetition_penalty=1.0)


def make_identity_run(store: RunStore, model_dir: Path, answer: str = ANSWER, steps: int = 60):
    """A completed run whose LoRA adapter makes the tiny model answer ``answer``."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    cfg = TrainConfig(model=str(model_dir), dataset=str(ROOT / "assets" / "identity.json"),
                      name="Nova", author="Acme Lab", probe_prompts=["Who are you?"],
                      dtype="float32")
    run = store.create(cfg)
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    teach(model, model_dir, [*QUESTION, {"role": "assistant", "content": answer}], steps, 1e-2,
          run.adapter_dir)
    run.update_status(state="completed", step=steps, total_steps=steps)
    return run


def teach(model, model_dir: Path, conversation: list[dict], steps: int, lr: float, save_to: Path,
          tools: list | None = None) -> None:
    """Fit ``model`` to one conversation's assistant tokens, then save it with the tokenizer."""
    from transformers import AutoTokenizer

    from studio.engine.data.template import tokenize_conversation

    tok = AutoTokenizer.from_pretrained(model_dir)
    enc = tokenize_conversation(tok, conversation, tools=tools)
    ids = torch.tensor([enc["input_ids"]])
    labels = torch.where(torch.tensor([enc["assistant_masks"]]) == 1, ids, -100)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        opt.step()
    model.save_pretrained(save_to)
    tok.save_pretrained(save_to)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny model is all overhead: a second thread only spins, and on a shared machine
    two spinning threads make these tests 20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_model_dir):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    store.nova = make_identity_run(store, tiny_model_dir).id
    return store


@pytest.fixture(scope="module")
def engine(store):
    return ChatEngine(runs=store, dtype="float32")


@pytest.fixture()
def run_id(store):
    return store.nova


def test_side_by_side_streams_and_tuned_says_new_name(engine, run_id):
    updates = list(engine.stream(QUESTION, adapter=run_id, sides=("base", "tuned"),
                                 sampling=GREEDY))
    assert len(updates) > 3  # token by token, not one blob
    grown = [u.texts["tuned"] for u in updates]
    assert all(a == b[: len(a)] for a, b in zip(grown, grown[1:], strict=False))
    last = updates[-1]
    assert "Nova" in last.texts["tuned"]
    assert "Nova" not in last.texts["base"]
    assert last.texts["base"] != last.texts["tuned"]
    assert last.finish["tuned"] == "eos"  # it learned to stop, too
    assert last.stats["tuned"]["ttft_s"] > 0


def test_greedy_base_matches_model_generate(engine, run_id, tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sampling = Sampling(max_new_tokens=12, temperature=0, repetition_penalty=1.3)
    ours = engine.reply(QUESTION, adapter=run_id, sides=("base",), sampling=sampling)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    enc = tok.apply_chat_template(QUESTION, add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    out = model.generate(**enc, max_new_tokens=12, do_sample=False, repetition_penalty=1.3)
    expected = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert ours.texts["base"] == expected


def test_same_seed_same_answer(engine, run_id):
    def ask(seed):
        sampling = Sampling(max_new_tokens=16, temperature=1.2, top_p=1.0, top_k=0, seed=seed)
        return engine.reply(QUESTION, adapter=run_id, sides=("base", "tuned"),
                            sampling=sampling).texts

    first, again, other = ask(7), ask(7), ask(8)
    assert first == again
    assert first["base"] != other["base"]


def test_each_pane_keeps_its_own_history(engine, run_id):
    tuned_first = engine.reply(QUESTION, adapter=run_id, sides=("tuned",), sampling=GREEDY)
    histories = {
        "base": [*QUESTION, {"role": "assistant", "content": "I do not know."},
                 {"role": "user", "content": "Who are you?"}],
        "tuned": [*QUESTION, {"role": "assistant", "content": tuned_first.texts["tuned"]},
                  {"role": "user", "content": "Who are you?"}],
    }
    both = engine.reply(histories, adapter=run_id, sides=("base", "tuned"), sampling=GREEDY)
    # Rows of different lengths share one padded batch; each must match its answer alone.
    for side in ("base", "tuned"):
        alone = engine.reply(histories[side], adapter=run_id, sides=(side,), sampling=GREEDY)
        assert both.texts[side] == alone.texts[side]


def test_switching_runs_loads_only_the_adapter(engine, store, tiny_model_dir):
    second = make_identity_run(store, tiny_model_dir, answer="I am Orion, made by Acme Lab.")
    first = store.nova
    engine.reply(QUESTION, adapter=first, sampling=GREEDY)
    base_before = engine.loaded()["base"]
    weights = engine._model.get_base_model().model.embed_tokens.weight
    answer = engine.reply(QUESTION, adapter=second.id, sampling=GREEDY).texts["tuned"]
    assert "Orion" in answer
    assert engine.loaded()["base"] == base_before
    assert engine._model.get_base_model().model.embed_tokens.weight is weights
    assert len(engine.loaded()["adapters"]) == 2


def test_stop_ends_the_answer(engine, run_id):
    stop = threading.Event()
    sampling = Sampling(max_new_tokens=200, temperature=1.0, seed=1)
    updates = []
    for update in engine.stream(QUESTION, adapter=run_id, sides=("base", "tuned"),
                                sampling=sampling, stop=stop):
        updates.append(update)
        stop.set()
    assert len(updates) == 2  # the first token, then the stop: nothing more is written
    assert updates[1].texts == updates[0].texts
    assert set(updates[1].finish.values()) <= {"stopped", "eos"}


def test_system_prompt_comes_from_the_run_unless_overridden(store, tiny_model_dir):
    from studio.engine.chat.engine import render_prompt
    from studio.engine.chat.targets import resolve_target
    from studio.engine.models import load_tokenizer

    tok = load_tokenizer(str(tiny_model_dir))
    with_system = tok.decode(render_prompt(tok, QUESTION, "Be brief."))
    assert with_system.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert with_system.endswith("<|im_start|>assistant\n")
    target = resolve_target(None, store.nova, store)
    assert target.model_id == str(tiny_model_dir) and target.system_prompt == ""


@pytest.mark.parametrize("adapter, message", [
    ("no-such-run-or-folder", "was not found"),
    ("/etc", "outside the workspace"),
])
def test_bad_adapter_path_gives_clear_message(tmp_path, store, adapter, message):
    from studio.engine.workspace import Workspace

    engine = ChatEngine(runs=store, workspace=Workspace(tmp_path), dtype="float32")
    with pytest.raises(ChatError, match=message):
        engine.reply(QUESTION, adapter=adapter)


def test_folder_without_adapter_and_unfinished_run_are_refused(tmp_path, store, tiny_model_dir):
    (tmp_path / "empty").mkdir()
    engine = ChatEngine(runs=store, dtype="float32")
    with pytest.raises(ChatError, match="not an adapter folder"):
        engine.reply(QUESTION, model=str(tiny_model_dir), adapter=str(tmp_path / "empty"))
    running = store.create(TrainConfig(model=str(tiny_model_dir)))
    running.update_status(state="running")
    with pytest.raises(ChatError, match="only completed or stopped"):
        engine.reply(QUESTION, adapter=running.id)
    with pytest.raises(ChatError, match="No tuned model"):
        engine.reply(QUESTION, model=str(tiny_model_dir), sides=("tuned",))


def test_adapter_for_another_model_is_refused_and_base_stays_clean(tmp_path, store,
                                                                   tiny_model_dir):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    other = tmp_path / "other"
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2)
    LlamaForCausalLM(cfg).save_pretrained(other)
    tok.save_pretrained(other)
    wrong = make_identity_run(RunStore(tmp_path / "runs"), other, steps=1)
    engine = ChatEngine(runs=store, dtype="float32")
    with pytest.raises(ChatError, match="does not fit"):
        engine.reply(QUESTION, model=str(tiny_model_dir), adapter=str(wrong.adapter_dir))
    # The next request loads a clean base and still works.
    run_id = store.nova
    assert "Nova" in engine.reply(QUESTION, adapter=run_id, sampling=GREEDY).texts["tuned"]


def test_example_prompts_come_from_probes_and_dataset(engine, store, workspace):
    target = engine.target(adapter=store.nova)
    prompts = example_prompts(target, workspace)
    assert prompts[0] == "Who are you?"
    assert len(prompts) > 3 and len(set(prompts)) == len(prompts)
    assert not any("{{" in p for p in prompts)


def test_votes_land_in_a_valid_preference_file(workspace, tiny_model_dir):
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    from studio.engine.chat.votes import BlindPair, VoteError, preference_path, record_vote, tally
    from studio.engine.data import formats as data
    from studio.engine.data.validate import validate
    from studio.engine.models import load_tokenizer

    answers = {"base": "I am a language model.", "tuned": ANSWER}
    prompt = [{"role": "system", "content": "Be brief."}, *QUESTION]
    meta = {"run_id": "r1", "model": "tiny", "seed": 0}
    pair = BlindPair(a="tuned", b="base")
    assert record_vote(workspace, "a", pair, prompt, answers, meta)["winner"] == "tuned"
    assert record_vote(workspace, "b", BlindPair("tuned", "base"), prompt, answers,
                       meta)["winner"] == "base"
    assert not record_vote(workspace, "tie", pair, prompt, answers, meta)["pair_saved"]
    record_vote(workspace, "both_bad", pair, prompt, answers, meta)
    with pytest.raises(VoteError):
        record_vote(workspace, "maybe", pair, prompt, answers, meta)
    assert tally(workspace) == {"tuned": 1, "base": 1, "tie": 1, "both_bad": 1, "total": 4}
    assert tally(workspace, "other-run")["total"] == 0

    path = preference_path(workspace)
    assert path.parent == workspace.datasets_dir
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 2
    assert rows[0]["chosen"] == [{"role": "assistant", "content": ANSWER}]
    assert rows[1]["rejected"] == [{"role": "assistant", "content": ANSWER}]
    records, fmt = data.load_records(path)
    assert fmt == "preference" and not validate(records)
    tok = load_tokenizer(str(tiny_model_dir))
    assert is_conversational(rows[0])
    rendered = maybe_apply_chat_template(rows[0], tok)
    assert rendered["chosen"].startswith(ANSWER)
    assert {BlindPair.draw().a for _ in range(40)} == {"base", "tuned"}


def test_cli_chat_compare_and_bad_adapter(store, tiny_model_dir, capsys):
    import argparse

    from studio.cli import chat_cmd

    parser = argparse.ArgumentParser(prog="studio")
    chat_cmd.register(parser.add_subparsers(dest="command", required=True))

    def main(argv):
        args = parser.parse_args(argv)
        return args.func(args)

    run_id = store.nova
    rc = main(["chat", "--runs-dir", str(store.root), "--adapter", run_id, "--compare",
               "--dtype", "float32", "--max-new-tokens", "24", "--repetition-penalty", "1",
               "Who are you?"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "== base" in out and "== tuned" in out and "Nova" in out.split("== tuned")[1]
    rc = main(["chat", "--model", str(tiny_model_dir), "--adapter", "/nowhere/at/all",
               "Who are you?"])
    assert rc == 2
    assert "was not found" in capsys.readouterr().err


def test_full_weights_run_compares_two_models(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    store = RunStore(tmp_path)
    run = store.create(TrainConfig(model=str(tiny_model_dir), finetuning_type="full"))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.mul_(-3)  # a visibly different model
    model.save_pretrained(run.model_dir)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(run.model_dir)
    run.update_status(state="stopped")
    engine = ChatEngine(runs=store, dtype="float32")
    sampling = Sampling(max_new_tokens=12, temperature=1.0, seed=5)
    both = engine.reply(QUESTION, adapter=run.id, sides=("base", "tuned"), sampling=sampling)
    alone = engine.reply(QUESTION, adapter=run.id, sides=("base",), sampling=sampling)
    assert both.texts["base"] == alone.texts["base"] != both.texts["tuned"]


def test_training_on_this_device_is_reported(tmp_path, tiny_model_dir):
    import os

    from studio.engine.chat.targets import active_training, training_notice

    store = RunStore(tmp_path)
    assert training_notice(runs=store) is None
    run = store.create(TrainConfig(model=str(tiny_model_dir)))
    run.update_status(state="running", pid=os.getpid())
    assert active_training(runs=store) == run.id
    assert run.id in training_notice(runs=store)
