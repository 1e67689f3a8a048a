"""Training: the run config, presets and estimate, model and data preparation, the TRL jobs.

``config`` holds ``TrainConfig`` (the one source of truth), ``presets`` the recipe files,
``estimate`` the before-Start numbers, ``prepare`` the model and tokenized rows, ``args`` the one
translation into TRL's configs, ``sft`` / ``dpo`` the methods, ``callbacks`` the run-folder writer
and ``job`` the worker that runs one job at a time on the device.
"""
