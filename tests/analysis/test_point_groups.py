"""The 32 generated character tables against standard spectroscopy tables (labels, IR, Raman)."""

import numpy as np
import pytest

from qsolid.analysis.point_groups import (
    HERMANN_MAUGUIN_TO_SCHOENFLIES,
    basis_functions,
    character_table,
    standard_character_table,
)

# label set | IR-active | Raman-active, in the standard settings (monoclinic b-unique), as
# printed in the usual tables (Cotton; Bilbao) with complex pairs merged into E.
EXPECTED = {
    "1": ("A", "A", "A"),
    "-1": ("Ag Au", "Au", "Ag"),
    "2": ("A B", "A B", "A B"),
    "m": ("A' A''", "A' A''", "A' A''"),
    "2/m": ("Ag Bg Au Bu", "Au Bu", "Ag Bg"),
    "222": ("A B1 B2 B3", "B1 B2 B3", "A B1 B2 B3"),
    "mm2": ("A1 A2 B1 B2", "A1 B1 B2", "A1 A2 B1 B2"),
    "mmm": ("Ag B1g B2g B3g Au B1u B2u B3u", "B1u B2u B3u", "Ag B1g B2g B3g"),
    "4": ("A B E", "A E", "A B E"),
    "-4": ("A B E", "B E", "A B E"),
    "4/m": ("Ag Bg Eg Au Bu Eu", "Au Eu", "Ag Bg Eg"),
    "422": ("A1 A2 B1 B2 E", "A2 E", "A1 B1 B2 E"),
    "4mm": ("A1 A2 B1 B2 E", "A1 E", "A1 B1 B2 E"),
    "-42m": ("A1 A2 B1 B2 E", "B2 E", "A1 B1 B2 E"),
    "4/mmm": ("A1g A2g B1g B2g Eg A1u A2u B1u B2u Eu", "A2u Eu", "A1g B1g B2g Eg"),
    "3": ("A E", "A E", "A E"),
    "-3": ("Ag Eg Au Eu", "Au Eu", "Ag Eg"),
    "32": ("A1 A2 E", "A2 E", "A1 E"),
    "3m": ("A1 A2 E", "A1 E", "A1 E"),
    "-3m": ("A1g A2g Eg A1u A2u Eu", "A2u Eu", "A1g Eg"),
    "6": ("A B E1 E2", "A E1", "A E1 E2"),
    "-6": ("A' E' A'' E''", "E' A''", "A' E' E''"),
    "6/m": ("Ag Bg E1g E2g Au Bu E1u E2u", "Au E1u", "Ag E1g E2g"),
    "622": ("A1 A2 B1 B2 E1 E2", "A2 E1", "A1 E1 E2"),
    "6mm": ("A1 A2 B1 B2 E1 E2", "A1 E1", "A1 E1 E2"),
    "-6m2": ("A1' A2' E' A1'' A2'' E''", "E' A2''", "A1' E' E''"),
    "6/mmm": ("A1g A2g B1g B2g E1g E2g A1u A2u B1u B2u E1u E2u", "A2u E1u", "A1g E1g E2g"),
    "23": ("A E T", "T", "A E T"),
    "m-3": ("Ag Eg Tg Au Eu Tu", "Tu", "Ag Eg Tg"),
    "432": ("A1 A2 E T1 T2", "T1", "A1 E T2"),
    "-43m": ("A1 A2 E T1 T2", "T2", "A1 E T2"),
    "m-3m": ("A1g A2g Eg T1g T2g A1u A2u Eu T1u T2u", "T1u", "A1g Eg T2g"),
}

ORDERS = {"C1": 1, "Ci": 2, "C2": 2, "Cs": 2, "C2h": 4, "D2": 4, "C2v": 4, "D2h": 8, "C4": 4, "S4": 4,
          "C4h": 8, "D4": 8, "C4v": 8, "D2d": 8, "D4h": 16, "C3": 3, "C3i": 6, "D3": 6, "C3v": 6, "D3d": 12,
          "C6": 6, "C3h": 6, "C6h": 12, "D6": 12, "C6v": 12, "D3h": 12, "D6h": 24, "T": 12, "Th": 24,
          "O": 24, "Td": 24, "Oh": 48}


@pytest.mark.parametrize("symbol", sorted(HERMANN_MAUGUIN_TO_SCHOENFLIES))
def test_labels_and_activity_match_standard_tables(symbol):
    table = standard_character_table(symbol)
    labels, infrared, raman = EXPECTED[symbol]
    assert table.order == ORDERS[table.schoenflies]
    assert sorted(table.labels()) == sorted(labels.split())
    assert sorted(r.label for r in table.irreps if r.infrared) == sorted(infrared.split())
    assert sorted(r.label for r in table.irreps if r.raman) == sorted(raman.split())


@pytest.mark.parametrize("symbol", sorted(HERMANN_MAUGUIN_TO_SCHOENFLIES))
def test_real_characters_are_orthogonal_and_complete(symbol):
    table = standard_character_table(symbol)
    chi = np.array([table.element_characters(r) for r in table.irreps])
    gram = chi @ chi.T / table.order
    # real irreps have <chi, chi> = 1, merged complex pairs 2; distinct irreps are orthogonal
    assert np.allclose(gram, np.diag(np.diag(gram)))
    assert set(np.round(np.diag(gram), 12)) <= {1.0, 2.0}
    # sum over physically irreducible reps of d^2 / <chi,chi> = |G| (a merged pair counts 2 d^2 / 2)
    dims = np.array([r.dimension for r in table.irreps])
    assert np.isclose(np.sum(dims**2 / np.diag(gram)), table.order)
    # the regular representation contains every irrep
    assert np.isclose(np.sum(dims * chi[:, 0] / np.diag(gram)), table.order)


def test_axis_conventions_of_the_standard_settings():
    """Mulliken conventions that fix which axis is which (the point of the standard setting)."""
    d2h = basis_functions(standard_character_table("D2h"))
    assert (d2h["B1u"], d2h["B2u"], d2h["B3u"]) == (["z"], ["y"], ["x"])
    assert "xy" in d2h["B1g"] and "Rz" in d2h["B1g"] and "xz" in d2h["B2g"] and "yz" in d2h["B3g"]
    c2v = basis_functions(standard_character_table("C2v"))
    assert "z" in c2v["A1"] and "x" in c2v["B1"] and "y" in c2v["B2"] and "xy" in c2v["A2"]
    d4h = basis_functions(standard_character_table("D4h"))
    assert "x2-y2" in d4h["B1g"] and "xy" in d4h["B2g"] and d4h["A2u"] == ["z"]
    d2d = basis_functions(standard_character_table("D2d"))
    assert "z" in d2d["B2"] and "x2-y2" in d2d["B1"]
    d6h = basis_functions(standard_character_table("D6h"))
    assert d6h["E1u"] == ["x", "y"] and {"x2-y2", "xy"} <= set(d6h["E2g"]) and d6h["A2g"] == ["Rz"]
    d3h = basis_functions(standard_character_table("D3h"))
    assert d3h["A2''"] == ["z"] and {"x", "y"} <= set(d3h["E'"]) and {"Rx", "Ry"} <= set(d3h["E''"])
    td = basis_functions(standard_character_table("Td"))
    assert {"x", "y", "z"} <= set(td["T2"]) and td["T1"] == ["Rx", "Ry", "Rz"]


def test_table_does_not_depend_on_orientation_within_the_setting():
    """D2h generated from its three mirrors, in any order, gives the same labelled characters."""
    mirrors = [np.diag(d) for d in ([-1.0, 1, 1], [1.0, -1, 1], [1.0, 1, -1])]
    first = character_table(mirrors)
    second = character_table(mirrors[::-1])
    for label in first.labels():
        for rotation in first.elements:
            a = first.element_characters(first.irrep(label))[first.find_element(rotation)]
            b = second.element_characters(second.irrep(label))[second.find_element(rotation)]
            assert a == b
