"""The README's Python examples run as written, on shortened copies of the configs they name."""

import re
import tomllib
from pathlib import Path

import pytest
import tomli_w

ROOT = Path(__file__).resolve().parents[1]
SHORTER = {
    "examples/bcc2_gamma_clamped.toml": {
        "network": {"one_electron_width": 8, "two_electron_width": 4, "layers": 1, "determinants": 1},
        "sampling": {"batch_size": 8, "burn_in_sweeps": 5, "sweeps_per_step": 2},
        "optimisation": {"steps": 3},
        "evaluation": {"steps": 3},
    },
    "examples/nct_quartic1d_beta1.toml": {
        "sampling": {"batch_size": 64},
        "optimisation": {"steps": 3},
        "evaluation": {"steps": 2},
    },
    "examples/dvfe_h2_slater_30000k.toml": {
        "base": {"ais_walkers": 16, "ais_stages": 5},
        "sampling": {"batch_size": 8},
        "optimisation": {"steps": 3},
        "evaluation": {"steps": 2},
    },
}


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def _shortened(example: str, tmp_path: Path) -> str:
    config = tomllib.loads((ROOT / example).read_text())
    for section, values in SHORTER[example].items():
        config.setdefault(section, {}).update(values)
    path = tmp_path / Path(example).name
    path.write_text(tomli_w.dumps(config))
    return str(path)


@pytest.mark.slow
def test_each_python_example_of_the_readme_runs(tmp_path, capsys):
    blocks = _python_blocks()
    assert len(blocks) == 4  # VMC, NCT, dvfe, analysis
    for block in blocks:
        for example in SHORTER:
            block = block.replace(f'"{example}"', repr(_shortened(example, tmp_path)))
        block = block.replace('"runs/', f'"{tmp_path}/runs/')
        exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 4 and "gamma" in printed[0] and "electrons at gamma" in printed[2]
