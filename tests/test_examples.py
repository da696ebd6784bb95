"""Every config in examples/ validates with its engine's loader (a renamed or moved key breaks no example silently)."""

from pathlib import Path

import pytest

from qsolid.dvfe import config as dvfe_config
from qsolid.nct import config as nct_config
from qsolid.vmc import config as vmc_config

ROOT = Path(__file__).resolve().parents[1]
LOADERS = {"dvfe": dvfe_config.load, "nct": nct_config.load}


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_example_config_validates(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # configuration files inside examples are named relative to the repository root
    load = LOADERS.get(path.name.split("_")[0], vmc_config.load_config)
    assert load(path) is not None
