"""Studio scoring vs EleutherAI's lm-evaluation-harness: per-question agreement and speed.

Runs the harness's own MMLU and C-Eval tasks (its installed task YAMLs, pointed at local files
instead of the hub) and the studio's ``evaluate`` on the same subjects, the same first N questions,
the same shots, fp32 and the ``plain`` format, then compares per question: prompt strings,
predicted letters, the four log-likelihoods, and accuracy. Timings are medians of repeated runs,
interleaved (harness, studio, harness, ...) so a busy shared CPU affects both alike; each timing
covers reading the data, building prompts and scoring, with the model already loaded.

The harness lives in its own virtual environment (it pins its own dependencies):

    python3 -m venv /tmp/lmeval-venv
    /tmp/lmeval-venv/bin/pip install torch==2.13.0
    /tmp/lmeval-venv/bin/pip install "lm-eval==0.4.*" accelerate
    .venv/bin/python benchmarks/eval_vs_harness.py --harness-python /tmp/lmeval-venv/bin/python

This file runs in both environments: ``--role harness`` (inside the harness's venv) imports only
lm_eval and the standard library.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL_DATA = ROOT.parent / "shared" / "eval-data"
LETTERS = "ABCD"
DEFAULT_SUBJECTS = {
    "mmlu": "abstract_algebra,anatomy,marketing",
    "ceval": "accountant,computer_network,law",
}
TASK_PREFIX = {"mmlu": "mmlu_", "ceval": "ceval-valid_"}


# --- harness side (runs inside the lm-eval venv)


def _harness_rows(benchmark: str, data_dir: Path, subject: str, split: str) -> list[dict]:
    """The CSV rows as the hub datasets spell them (cais/mmlu, ceval/ceval-exam)."""
    path = data_dir / split / f"{subject}_{split}.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    if benchmark == "mmlu":
        return [{"question": r[0], "subject": subject, "choices": r[1:5],
                 "answer": LETTERS.index(r[5])} for r in rows]
    head = rows[0]
    return [dict(zip(head, r)) for r in rows[1:]]


def _write_tasks(benchmark: str, data_dir: Path, subjects: list[str], folder: Path) -> list[str]:
    """Task YAMLs that include the installed harness's own template, reading local JSON files."""
    import lm_eval
    import yaml

    pkg = Path(lm_eval.__file__).parent / "tasks"
    template = (pkg / "mmlu/default/_default_template_yaml" if benchmark == "mmlu"
                else pkg / "ceval/_default_ceval_yaml")
    split = "test" if benchmark == "mmlu" else "val"
    names = []
    for subject in subjects:
        original = (pkg / "mmlu/default" if benchmark == "mmlu" else pkg / "ceval") / \
            f"{TASK_PREFIX[benchmark]}{subject}.yaml"
        desc = yaml.safe_load(original.read_text(encoding="utf-8"))["description"]
        files = {}
        for s in ("dev", split):
            out = folder / f"{benchmark}-{subject}-{s}.jsonl"
            out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                   for r in _harness_rows(benchmark, data_dir, subject, s)),
                           encoding="utf-8")
            files[s] = str(out)
        name = f"local_{benchmark}_{subject}"
        cfg = {"include": str(template), "task": name, "description": desc,
               "dataset_path": "json", "dataset_name": None,
               "dataset_kwargs": {"data_files": files}}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True),
                                             encoding="utf-8")
        names.append(name)
    return names


def _samples(results: dict, benchmark: str) -> list[dict]:
    out = []
    for task, samples in results["samples"].items():
        subject = task[len(f"local_{benchmark}_"):]
        for s in sorted(samples, key=lambda s: s["doc_id"]):
            lls = [float(r[0]) for r in s["filtered_resps"]]
            ctx = s["arguments"][0][0] if isinstance(s["arguments"], list) else \
                s["arguments"]["gen_args_0"]["arg_0"]
            out.append({"subject": subject, "doc_id": s["doc_id"], "context": ctx,
                        "logprobs": lls, "acc": s["acc"]})
    return out


def harness_role(args) -> None:
    import torch
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    torch.set_num_threads(args.threads)
    lm = HFLM(pretrained=args.model_dir, dtype="float32", batch_size=args.batch_size,
              device="cpu")
    report = {"times": []}
    with tempfile.TemporaryDirectory() as tmp:
        # Indexing the harness's thousands of task files takes seconds: done once, not timed.
        tasks = _write_tasks(args.benchmark, Path(args.data_dir), args.subjects.split(","),
                             Path(tmp))
        manager = TaskManager(include_path=tmp)
        for run in range(args.repeats):
            start = time.perf_counter()
            results = simple_evaluate(model=lm, tasks=tasks, num_fewshot=args.shots,
                                      limit=args.limit, log_samples=True, bootstrap_iters=0,
                                      task_manager=manager)
            report["times"].append(time.perf_counter() - start)
            if run == 0:
                report["samples"] = _samples(results, args.benchmark)
    print("HARNESS_JSON " + json.dumps(report, ensure_ascii=False))


# --- studio side


def run_harness(args, benchmark: str, repeats: int) -> dict:
    cmd = [args.harness_python, __file__, "--role", "harness", "--benchmark", benchmark,
           "--data-dir", str(Path(args.data_root) / benchmark), "--subjects",
           args.subjects[benchmark], "--shots", str(args.shots), "--limit", str(args.limit),
           "--repeats", str(repeats), "--batch-size", str(args.batch_size),
           "--model-dir", args.model_dir, "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("HARNESS_JSON ")), None)
    if proc.returncode or line is None:
        sys.exit(f"harness run failed:\n{proc.stderr[-4000:]}")
    return json.loads(line[len("HARNESS_JSON "):])


def run_studio(model, tokenizer, args, benchmark: str) -> tuple[dict, float]:
    from studio.engine.scoring.evaluate import evaluate

    start = time.perf_counter()
    result = evaluate(model, tokenizer, benchmark, Path(args.data_root) / benchmark,
                      subjects=args.subjects[benchmark].split(","), shots=args.shots,
                      fmt="plain", limit=args.limit, batch_size=args.batch_size)
    return result, time.perf_counter() - start


def studio_prompts(tokenizer, args, benchmark: str) -> dict:
    from studio.engine.scoring.evaluate import plan
    from studio.engine.scoring.prompts import build_prompt

    prompts = {}
    for e in plan(benchmark, Path(args.data_root) / benchmark,
                  args.subjects[benchmark].split(","), None, args.shots, args.limit):
        for q in e["questions"]:
            prompts[(e["subject"].key, q.index)] = build_prompt(
                "plain", tokenizer, benchmark, e["subject"], e["examples"], q)
    return prompts


def compare(benchmark: str, harness: dict, studio: dict, prompts: dict) -> dict:
    same_prompt = same_letter = n = 0
    max_diff = 0.0
    h_correct = 0
    for s in harness["samples"]:
        sub = studio["subjects"][s["subject"]]
        j = sub["indices"].index(s["doc_id"])
        h_pred = LETTERS[max(range(4), key=s["logprobs"].__getitem__)]
        same_letter += h_pred == sub["predictions"][j]
        same_prompt += prompts[(s["subject"], s["doc_id"])] == s["context"]
        max_diff = max(max_diff, *(abs(a - b) for a, b in zip(s["logprobs"], sub["logprobs"][j])))
        h_correct += s["acc"]
        n += 1
    return {"benchmark": benchmark, "questions": n, "same_prompt": same_prompt,
            "letter_agreement_pct": 100.0 * same_letter / n, "max_abs_logprob_diff": max_diff,
            "harness_acc": 100.0 * h_correct / n, "studio_acc": 100.0 * studio["overall"]["acc"],
            "studio_letters": "".join(p for x in studio["subjects"].values()
                                      for p in x["predictions"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--role", choices=["driver", "harness"], default="driver")
    p.add_argument("--harness-python", default="/tmp/lmeval-venv/bin/python")
    p.add_argument("--benchmarks", default="mmlu,ceval")
    p.add_argument("--benchmark")
    p.add_argument("--data-root", default=str(EVAL_DATA))
    p.add_argument("--data-dir")
    p.add_argument("--subjects", default=None,
                   help="comma-separated (one benchmark) or leave out for the defaults")
    p.add_argument("--shots", type=int, default=5)
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--model-dir", default=None)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for both sides (1: a shared CPU oversubscribed by other "
                        "jobs slows multi-threaded runs erratically)")
    p.add_argument("--output", default=None, help="write the report JSON here")
    args = p.parse_args()
    if args.role == "harness":
        return harness_role(args)

    sys.path.insert(0, str(ROOT))
    import torch

    from studio.engine.models import BUNDLED_ID, load_model, load_tokenizer, resolve_model

    torch.set_num_threads(args.threads)
    args.model_dir = args.model_dir or resolve_model(BUNDLED_ID)
    benches = args.benchmarks.split(",")
    args.subjects = {b: (args.subjects if args.subjects and len(benches) == 1
                         else DEFAULT_SUBJECTS[b]) for b in benches}
    model = load_model(args.model_dir, dtype=torch.float32).eval()
    tokenizer = load_tokenizer(args.model_dir)
    report = {"model": args.model_dir, "shots": args.shots, "limit": args.limit,
              "threads": args.threads, "dtype": "float32", "format": "plain",
              "batch_size": args.batch_size, "repeats": args.repeats, "benchmarks": []}
    for bench in benches:
        h_times, s_times, first_h, first_s = [], [], None, None
        for _ in range(args.repeats):  # interleaved, so load from other users hits both
            h = run_harness(args, bench, 1)
            h_times += h["times"]
            first_h = first_h or h
            s, t = run_studio(model, tokenizer, args, bench)
            s_times.append(t)
            first_s = first_s or s
        row = compare(bench, first_h, first_s, studio_prompts(tokenizer, args, bench))
        row.update(harness_times_s=[round(t, 2) for t in h_times],
                   studio_times_s=[round(t, 2) for t in s_times],
                   harness_median_s=round(statistics.median(h_times), 2),
                   studio_median_s=round(statistics.median(s_times), 2),
                   speedup=round(statistics.median(h_times) / statistics.median(s_times), 2))
        report["benchmarks"].append(row)
        print(json.dumps(row, ensure_ascii=False, indent=1), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
