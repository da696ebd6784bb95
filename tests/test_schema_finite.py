"""Non-finite floats (TOML `inf`, `-inf`, `nan`) are refused at parse time, naming the field."""

import dataclasses

import pytest

from qsolid.vmc.config import Config
from qsolid.nct.config import Config as NctConfig
from qsolid.schema import ConfigError, option, parse

VMC_CASES = [
    ({"system": {"rs": float("inf")}}, "system.rs: must be a finite number, got inf"),
    ({"system": {"lattice_constant_bohr": float("inf")}}, "system.lattice_constant_bohr: must be a finite"),
    ({"system": {"isotope": float("inf")}}, "system.isotope: must be a finite number"),
    ({"system": {"twists": [[0.0, float("nan"), 0.0]]}}, "system.twists[0][1]: must be a finite number, got nan"),
    ({"system": {"nuclear_masses": [1836.0, float("inf")]}}, "system.nuclear_masses[1]: must be a finite"),
    ({"optimisation": {"learning_rate": float("inf")}}, "optimisation.learning_rate: must be a finite"),
    ({"optimisation": {"learning_rate": float("-inf")}}, "optimisation.learning_rate: must be a finite number, got -inf"),
    ({"npt": {"initial_temperature_ha": float("inf")}}, "npt.initial_temperature_ha: must be a finite"),
    ({"npt": {"pressure_gpa": float("nan")}}, "npt.pressure_gpa: must be a finite number, got nan"),
]


@pytest.mark.parametrize("data, message", VMC_CASES)
def test_vmc_non_finite_refused(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(Config, data)


NCT_CASES = [
    ({"system": {"kind": "harmonic", "frequencies": [1.0, float("inf")]}}, "system.frequencies[1]"),
    ({"system": {"kind": "crystal", "temperature_k": float("inf")}}, "system.temperature_k"),
    ({"system": {"kind": "crystal", "volume_per_atom_angstrom3": float("inf")}}, "system.volume_per_atom_angstrom3"),
    ({"system": {"kind": "crystal", "mass_amu": float("nan")}}, "system.mass_amu"),
]


@pytest.mark.parametrize("data, field", NCT_CASES)
def test_nct_non_finite_refused(data, field):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]") + ": must be a finite number"):
        parse(NctConfig, data)


def test_field_that_allows_inf_accepts_inf_but_never_nan():
    @dataclasses.dataclass(frozen=True)
    class Section:
        beta: float = option(1.0, "inverse temperature; inf is the ground state", allow_inf=True)
        width: float = option(1.0, "a width")

    assert parse(Section, {"beta": float("inf")}).beta == float("inf")
    with pytest.raises(ConfigError, match="beta: must be a finite number, got nan"):
        parse(Section, {"beta": float("nan")})
    with pytest.raises(ConfigError, match="width: must be a finite number, got inf"):
        parse(Section, {"width": float("inf")})


def test_nct_ground_state_beta_inf_still_accepted():
    config = parse(NctConfig, {"system": {"beta": float("inf")}, "ansatz": {"levels": 1}})
    assert config.system.beta == float("inf")
