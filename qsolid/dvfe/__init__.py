"""Deep variational free energy of dense hydrogen at finite temperature (seed 001).

This version treats the classical protons without electrons: a normalizing
flow p(X) on the torus, trained to minimise F = E_p[k_B T ln p + V] + C.

    from qsolid.dvfe import config, driver
    summary = driver.run(config.load("examples/dvfe_ideal_gas.toml"), "runs/ideal")
    summary["free_energy_ha_per_atom"], summary["free_energy_ha_per_atom_error"]
"""
