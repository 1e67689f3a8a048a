"""Scoring engine on the tiny model: data reading, exact prompts, k-shot, letter tokens, scores.

The prompt strings here are the reference harness's (lm-evaluation-harness 0.4 mmlu/ceval/cmmlu
task YAMLs); benchmarks/eval_vs_harness.py checks them against the harness itself.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from studio.engine.errors import EvalDataError
from studio.engine.models import load_model, load_tokenizer
from studio.engine.scoring import data as exams
from studio.engine.scoring import evaluate as ev
from studio.engine.scoring import prompts, results
from studio.engine.scoring.score import Item, common_prefix, score_items

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "sample-exam"


def _q(question="1+1=?", choices=("1", "2", "3", "4"), answer="B", index=0, subject="s"):
    return exams.Question(subject, index, question, tuple(choices), answer)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir), dtype=torch.float32).eval(), \
        load_tokenizer(str(tiny_model_dir))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def cmmlu_dir(tmp_path):
    for split, n in (("dev", 5), ("test", 3)):
        rows = "".join(f"{i},问题{i}  ,甲,乙,丙,丁,{'ABCD'[i % 4]}\n" for i in range(n))
        _write(tmp_path / split / "agronomy.csv", ",Question,A,B,C,D,Answer\n" + rows)
    return tmp_path


# --- prompts, exact strings


def test_mmlu_plain_prompt_matches_harness_format():
    subject = exams.subject_info("mmlu", None, "abstract_algebra")
    shots = [_q("  Find 2+2. ", ("1", "4", "None", "0"), "B")]
    prompt = prompts.build_prompt("plain", None, "mmlu", subject, shots, _q(" What is 1+1?\n"))
    assert prompt == (
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "Find 2+2.\nA. 1\nB. 4\nC. None\nD. 0\nAnswer: B\n\n"
        "What is 1+1?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:")


def test_ceval_and_cmmlu_plain_prompts():
    q = _q("下列说法正确的是____。", ("甲", "乙", "丙", "丁"), "C")
    accountant = exams.subject_info("ceval", None, "accountant")
    ceval = prompts.build_prompt("plain", None, "ceval", accountant, [q], q)
    assert ceval == ("以下是中国关于注册会计师的单项选择题，请选出其中的正确答案。\n\n"
                     "下列说法正确的是____。\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案： C\n\n"
                     "下列说法正确的是____。\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案：")
    agronomy = exams.subject_info("cmmlu", None, "agronomy")
    cmmlu = prompts.build_prompt("plain", None, "cmmlu", agronomy, [], q)
    assert cmmlu == ("以下是关于农学的单项选择题，请直接给出正确答案的选项。\n\n"
                     "下列说法正确的是____。\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案：")


@pytest.mark.parametrize("benchmark,subject,head,cue", [
    ("mmlu", "anatomy", "The following are multiple choice questions (with answers) about "
                        "anatomy.", "Answer:"),
    ("ceval", "law", "以下是中国关于法学的单项选择题，请选出其中的正确答案。", "答案："),
    ("cmmlu", "arts", "以下是关于艺术学的单项选择题，请直接给出正确答案的选项。", "答案："),
])
def test_chat_prompts_use_the_template(tiny, benchmark, subject, head, cue):
    _, tokenizer = tiny
    info = exams.subject_info(benchmark, None, subject)
    prompt = prompts.build_prompt("chat", tokenizer, benchmark, info, [_q(answer="A")], _q())
    assert prompt == (f"<|im_start|>system\n{head}<|im_end|>\n<|im_start|>user\n"
                      f"1+1=?\nA. 1\nB. 2\nC. 3\nD. 4\n{cue} A\n\n"
                      f"1+1=?\nA. 1\nB. 2\nC. 3\nD. 4\n{cue}<|im_end|>\n<|im_start|>assistant\n")


def test_kshot_is_the_first_k_dev_questions_in_file_order():
    dev = [_q(index=i) for i in range(5)]
    assert [q.index for q in prompts.select_shots(dev, 3)] == [0, 1, 2]
    assert prompts.select_shots(dev, 0) == []
    with pytest.raises(ValueError, match="between 0 and 5"):
        prompts.select_shots(dev, 6)
    with pytest.raises(ValueError, match="only 2"):
        prompts.select_shots(dev[:2], 3)
    entries = ev.plan("mmlu", ASSETS / "en", ["general_science"], shots=2, limit=3)
    assert [q.question for q in entries[0]["examples"]] == [
        "What gas do plants take in from the air for photosynthesis?",
        "What is the boiling point of pure water at sea level in degrees Celsius?"]
    assert len(entries[0]["questions"]) == 3


def letter_ids(tokenizer, leading_space: bool) -> list[int]:
    """The single token of each answer letter (the tiny tokenizer has one for each)."""
    ids = [tokenizer((" " if leading_space else "") + c, add_special_tokens=False)["input_ids"]
           for c in "ABCD"]
    assert all(len(i) == 1 for i in ids)
    return [i[0] for i in ids]


def test_letter_tokens_with_and_without_space(tiny):
    _, tokenizer = tiny
    spaced = letter_ids(tokenizer, True)
    bare = letter_ids(tokenizer, False)
    assert [tokenizer.decode([i]) for i in spaced] == [" A", " B", " C", " D"]
    assert [tokenizer.decode([i]) for i in bare] == ["A", "B", "C", "D"]
    ctx, cont = prompts.encode_pair(tokenizer, "Answer:", " A", add_special_tokens=True)
    assert cont == [spaced[0]] and ctx == tokenizer("Answer:")["input_ids"]
    # The harness moves a context's trailing space into the continuation.
    assert prompts.encode_pair(tokenizer, "Answer: ", "A", True) == (ctx, cont)


# --- reading data, and bad data


def test_reads_the_three_layouts(cmmlu_dir):
    en = exams.list_subjects("mmlu", ASSETS / "en")
    assert [(s.key, s.category) for s in en] == [("general_science", "STEM"),
                                                 ("world_geography", "Social Sciences")]
    zh = exams.load_questions("ceval", ASSETS / "zh", "everyday_math", "val")
    assert zh[0].question == "8 + 5 = ____。" and zh[0].answer == "B" and len(zh) == 8
    cm = exams.load_questions("cmmlu", cmmlu_dir, "agronomy", "test")
    assert [(q.index, q.question, q.choices[0], q.answer) for q in cm][:2] == [
        (0, "问题0  ", "甲", "A"), (1, "问题1  ", "甲", "B")]
    assert exams.list_subjects("cmmlu", cmmlu_dir)[0].name == "农学"


def test_missing_subject_names_the_file(tmp_path):
    with pytest.raises(EvalDataError, match=r"'nope' not found: .*nope_test\.csv"):
        exams.load_questions("mmlu", ASSETS / "en", "nope", "test")


def test_malformed_csv_names_file_and_row(tmp_path):
    path = _write(tmp_path / "test" / "x_test.csv", "q,a,b,c,d,A\nq2,a,b\n")
    with pytest.raises(EvalDataError, match=r"x_test\.csv, row 2: expected at least 6"):
        exams.load_questions("mmlu", tmp_path, "x", "test")
    path.write_text("q,a,b,c,d,A\nq2,a,b,c,d,E\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"x_test\.csv, row 2: .*found 'E'"):
        exams.load_questions("mmlu", tmp_path, "x", "test")
    _write(tmp_path / "val" / "y_val.csv", "id,question,A,B,C\n0,q,a,b,c\n")
    with pytest.raises(EvalDataError, match=r"y_val\.csv, row 1: .*no 'D' column"):
        exams.load_questions("ceval", tmp_path, "y", "val")


def test_ceval_test_split_has_no_answers_message(tmp_path):
    _write(tmp_path / "test" / "z_test.csv", "id,question,A,B,C,D\n0,q,a,b,c,d\n")
    with pytest.raises(EvalDataError, match=r"z_test\.csv: there is no answer column"):
        exams.load_questions("ceval", tmp_path, "z", "test")
    unanswered = exams.load_questions("ceval", tmp_path, "z", "test", need_answers=False)
    assert unanswered[0].answer is None
    with pytest.raises(EvalDataError, match="no 'val' split"):
        exams.check_split("cmmlu", "val")


# --- aggregation, results, comparison


def _scored(key, category, answers, predictions):
    entry = {"subject": exams.Subject(key, key, category),
             "questions": [_q(answer=a, index=i, subject=key) for i, a in enumerate(answers)]}
    scores = {i: [0.0 if "ABCD"[j] == p else -1.0 for j in range(4)]
              for i, p in enumerate(predictions)}
    return key, (entry, scores)


def test_category_aggregation_weights_questions():
    scored = dict([_scored("a", "STEM", "AAAA", "AAAB"), _scored("b", "STEM", "BB", "AA"),
                   _scored("c", "Other", "C", "C")])
    r = ev.summarize("mmlu", "test", scored)
    assert r["subjects"]["a"]["acc"] == 0.75 and r["subjects"]["a"]["predictions"] == list("AAAB")
    assert r["categories"]["STEM"] == {"n": 6, "correct": 3, "subjects": 2, "acc": 0.5}
    assert list(r["categories"]) == ["STEM", "Other"]
    assert r["overall"]["n"] == 7 and r["overall"]["correct"] == 4
    assert r["overall"]["macro_acc"] == pytest.approx((0.75 + 0 + 1) / 3)


def test_compare_save_history(tmp_path):
    base = ev.summarize("mmlu", "test", dict([_scored("a", "STEM", "AAAA", "BBBB")]))
    tuned = ev.summarize("mmlu", "test", dict([_scored("a", "STEM", "AAAA", "AABB")]))
    rows = results.compare(base, tuned)
    assert [(r["level"], r["delta"]) for r in rows] == [("subject", 0.5), ("category", 0.5),
                                                        ("overall", 0.5)]
    for r, label in ((base, "base"), (tuned, "tuned")):
        r.update(created_at=1.0 if label == "base" else 2.0, label=label)
        results.save_result(r, tmp_path, label)
    assert [(h["label"], h["acc"]) for h in results.history(tmp_path)] == [("base", 0.0),
                                                                      ("tuned", 0.5)]


# --- scoring on the tiny model


def _reference(model, tokenizer, prompt, conts):
    ids = tokenizer(prompt)["input_ids"]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    lp = torch.log_softmax(logits, -1)
    return [lp[tokenizer(prompt + c)["input_ids"][len(ids)]].item() for c in conts]


def test_batched_cached_scores_equal_one_plain_forward(tiny):
    model, tokenizer = tiny
    r = ev.evaluate(model, tokenizer, "mmlu", ASSETS / "en", ["world_geography"], shots=2,
                    batch_size=3)
    entry = ev.plan("mmlu", ASSETS / "en", ["world_geography"], shots=2)[0]
    sub = r["subjects"]["world_geography"]
    assert sub["n"] == 8 and sub["indices"] == list(range(8))
    for q, lps in zip(entry["questions"], sub["logprobs"]):
        prompt = prompts.build_prompt("plain", tokenizer, "mmlu", entry["subject"],
                                      entry["examples"], q)
        assert lps == pytest.approx(_reference(model, tokenizer, prompt, [" A", " B", " C", " D"]),
                                    abs=1e-4)
    assert r["overall"]["n"] == 8 and r["format"] == "plain" and r["shots"] == 2


def test_chat_format_scores_bare_letters(tiny):
    model, tokenizer = tiny
    r = ev.evaluate(model, tokenizer, "ceval", ASSETS / "zh", ["everyday_math"], shots=1,
                    fmt="chat", limit=2)
    entry = ev.plan("ceval", ASSETS / "zh", ["everyday_math"], shots=1, limit=2)[0]
    prompt = prompts.build_prompt("chat", tokenizer, "ceval", entry["subject"], entry["examples"],
                             entry["questions"][0])
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        lp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)
    expected = [lp[i].item() for i in letter_ids(tokenizer, False)]
    assert r["subjects"]["everyday_math"]["logprobs"][0] == pytest.approx(expected, abs=1e-4)


def test_multi_token_continuations_take_the_general_path(tiny):
    model, _ = tiny
    items = [Item(0, [5, 6, 7], [[8], [9], [10], [11]]),
             Item(1, [5, 6, 7], [[8, 9], [9], [10], [11]])]
    out = score_items(model, items, batch_size=4)
    with torch.inference_mode():
        lp = torch.log_softmax(model(input_ids=torch.tensor([[5, 6, 7, 8]])).logits[0].float(), -1)
    assert out[1][0] == pytest.approx(lp[2, 8].item() + lp[3, 9].item(), abs=1e-4)
    assert out[0][0] == pytest.approx(lp[2, 8].item(), abs=1e-4)
    assert common_prefix([[1, 2, 3], [1, 2, 4], [1, 2]]) == 1


def test_stop_keeps_what_was_scored(tiny):
    model, tokenizer = tiny
    stop = threading.Event()
    seen = []

    def progress(done, total, subject):
        seen.append((done, total, subject))
        stop.set()

    r = ev.evaluate(model, tokenizer, "mmlu", ASSETS / "en", None, shots=0, batch_size=3,
                    progress=progress, stop=stop)
    assert r["stopped"] and seen == [(3, 16, "general_science")]
    assert r["overall"]["n"] == 3 and list(r["subjects"]) == ["general_science"]
    assert len(r["subjects"]["general_science"]["predictions"]) == 3
