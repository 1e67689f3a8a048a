"""TrainConfig: defaults, validation messages, coercion, YAML, presets."""

from pathlib import Path

import pytest

from studio.engine.errors import Reason
from studio.engine.train import config as C

PRESETS = sorted((Path(__file__).resolve().parents[1] / "presets").glob("*.yaml"))


def test_defaults_are_valid_and_every_field_documented():
    assert C.validate(C.TrainConfig()) == []
    for name, f in C.FIELDS.items():
        assert f.metadata["help"], name
        assert f.metadata["group"] in C.GROUPS, name


def test_validation_names_field_and_reason():
    errors = C.validate(C.TrainConfig(learning_rate=-1, batch_size=0, dtype="int3"))
    assert Reason("field_range", {"field": "learning_rate", "op": ">", "bound": 0.0,
                                  "got": -1}) in errors
    assert "batch_size must be >= 1, got 0" in [str(e) for e in errors]
    (dtype,) = [e for e in errors if e.params["field"] == "dtype"]
    assert dtype.code == "field_choice" and str(dtype).startswith("dtype must be one of auto")
    with pytest.raises(C.ConfigError) as info:
        C.check(C.TrainConfig(val_fraction=0.9))
    assert "val_fraction must be <= 0.5, got 0.9" in str(info.value)


def test_qlora_refused_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert [e.code for e in C.validate(C.TrainConfig(finetuning_type="qlora"))] == [
        "qlora_needs_cuda"]


def test_overrides_coerce_types():
    cfg = C.with_overrides(C.TrainConfig(), ["name=Nova", "author=Acme Lab", "batch_size=4",
                                             "learning_rate=5e-4", "packing=true",
                                             "probe_prompts=[a, b]"])
    assert (cfg.name, cfg.author, cfg.batch_size, cfg.packing) == ("Nova", "Acme Lab", 4, "on")
    assert cfg.learning_rate == 5e-4 and cfg.probe_prompts == ["a", "b"]
    with pytest.raises(C.ConfigError, match="batch_size must be a int"):
        C.with_overrides(C.TrainConfig(), ["batch_size=many"])
    with pytest.raises(C.ConfigError, match="unknown field 'bogus'"):
        C.with_overrides(C.TrainConfig(), ["bogus=1"])
    with pytest.raises(C.ConfigError, match="key=value"):
        C.with_overrides(C.TrainConfig(), ["name"])


def test_yaml_round_trip(tmp_path):
    cfg = C.TrainConfig(name="Nova", probe_prompts=["你是谁？"], learning_rate=3e-4)
    path = tmp_path / "c.yaml"
    path.write_text(C.dump_yaml(cfg, header="what it is for"), encoding="utf-8")
    assert C.load_yaml(path) == cfg
    assert C.preset_header(path) == "what it is for"


def test_bad_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("learning_rate: [1,\n", encoding="utf-8")
    with pytest.raises(C.ConfigError, match="not valid YAML"):
        C.load_yaml(path)
    with pytest.raises(C.ConfigError, match="not found"):
        C.load_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_preset_loads_validates_and_explains_itself(preset):
    cfg = C.load_yaml(preset)
    errors = [e for e in C.validate(cfg) if "qlora" not in e.code]  # qlora presets need a GPU
    assert errors == []
    header = C.preset_header(preset)
    assert "Purpose" in header and "Time" in header and "Tweak" in header
