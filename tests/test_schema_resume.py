"""Changed fields between two configs, and the rule for what a resume may change."""

import pytest

from qsolid.vmc.config import load_config
from qsolid.nct.config import Config as NctConfig
from qsolid.schema import ConfigError, changed_fields, check_resume, parse


def test_changed_fields_names_each_changed_leaf_by_dotted_path():
    old = load_config()
    new = load_config(overrides={"optimisation.learning_rate": 0.5, "network.layers": 3, "system.twists": [[0.5, 0, 0]]})
    assert changed_fields(old, new) == ["network.layers", "optimisation.learning_rate", "system.twists"]
    assert changed_fields(old, load_config()) == []


def test_changed_fields_on_nct_configs_and_missing_keys():
    assert changed_fields(parse(NctConfig, {}), parse(NctConfig, {"system": {"frequencies": [1.0, 2.0]}})) == [
        "system.frequencies"
    ]
    assert changed_fields({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == ["a.c"]


def test_resume_may_only_extend_the_run():
    old = load_config()
    check_resume(old, load_config())
    check_resume(old, load_config(overrides={"optimisation.steps": 2000, "evaluation.steps": 600}))
    with pytest.raises(ConfigError, match=r"^optimisation.learning_rate: changed since the run started"):
        check_resume(old, load_config(overrides={"optimisation.learning_rate": 0.5}))
    with pytest.raises(ConfigError, match=r"^network.layers, optimisation.learning_rate: changed"):
        check_resume(old, load_config(overrides={"optimisation.learning_rate": 0.5, "network.layers": 3, "optimisation.steps": 5000}))
    with pytest.raises(ConfigError, match=r"^evaluation.steps: cannot decrease on resume \(evaluation.steps 300 -> 10\)"):
        check_resume(old, load_config(overrides={"evaluation.steps": 10}))
