"""Scoring on C-Eval, MMLU and CMMLU, matching the reference harness question for question.

``data`` / ``subjects`` read the exams, ``prompts`` builds the harness's prompts, ``score`` picks
the answer letter, ``evaluate`` scores one model, ``loading`` loads base and tuned weights,
``results`` saves and compares, ``job`` runs scoring in the background.
"""
