"""Exporting a LoRA run gives a plain model folder whose outputs equal base + adapter."""

import pytest
import torch
from peft import PeftModel

from studio.engine.errors import RunStateError
from studio.engine.export.merge import export_run
from studio.engine.models import load_model
from studio.engine.runs import RunStore
from studio.engine.train.job import run_training
from tests.training import assert_every_lora_tensor_trained


def test_export_merges_lora_into_a_standalone_model(tmp_path, tiny_config, tiny_model_dir):
    store = RunStore(tmp_path / "runs")
    run = store.create(tiny_config)
    with pytest.raises(RunStateError, match="no final weights"):
        export_run(run, tmp_path / "early")
    assert run_training(run) == "completed"
    out = export_run(run, tmp_path / "exported")
    assert (out / "model.safetensors").exists() and (out / "chat_template.jinja").exists()
    assert_every_lora_tensor_trained(run.checkpoints_dir / "checkpoint-2", run.adapter_dir, 14)
    ids = torch.tensor([[1, 5, 9, 12, 40]])
    merged = load_model(str(out)).eval()
    base = load_model(str(tiny_model_dir)).eval()
    with torch.no_grad():
        before, after = base(ids).logits, merged(ids).logits
        tuned = PeftModel.from_pretrained(base, str(run.adapter_dir)).eval()
        torch.testing.assert_close(after, tuned(ids).logits, atol=1e-4, rtol=1e-4)
    # ... and the merge really carried the training: a no-op adapter would also "match".
    assert (after - before).abs().max() > 1e-2
    with pytest.raises(RunStateError, match="already exists"):
        export_run(run, out)
