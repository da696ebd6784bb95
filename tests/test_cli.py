"""The command line's shape: every engine's run command takes the same run-control options."""

import pytest

from qsolid import cli


def _run_parser(engine):
    parser = cli.build_parser()
    words = ["run"] if engine == "vmc" else [engine, "run"]
    return lambda *argv: parser.parse_args([*words, *argv])


@pytest.mark.parametrize("engine", ["vmc", "nct", "dvfe"])
def test_every_engine_runs_from_config_or_resumes_a_run_directory_with_or_without_progress_bar(engine):
    parse = _run_parser(engine)
    fresh = parse("c.toml", "--out", "runs/a", "--no-progress")
    assert (fresh.config, fresh.out, fresh.no_progress) == ("c.toml", "runs/a", True)
    resumed = parse("--resume", "runs/a")
    assert (resumed.config, resumed.resume, resumed.no_progress) == (None, "runs/a", False)


def test_nct_resume_names_the_run_directory_or_follows_out(tmp_path, capsys):
    assert cli.main(["nct", "run", "--resume", str(tmp_path)]) == 2
    assert f"--resume: {tmp_path} is not an nct run directory (no config.toml)" in capsys.readouterr().err
    assert cli.main(["nct", "run", "c.toml", "--resume", str(tmp_path)]) == 2
    assert "give either CONFIG --out RUN_DIR [--resume] or --resume RUN_DIR" in capsys.readouterr().err
    assert cli.main(["nct", "run", "c.toml"]) == 2
    assert "CONFIG and --out RUN_DIR are required" in capsys.readouterr().err
