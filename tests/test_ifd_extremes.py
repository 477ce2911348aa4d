"""bench/ifd_extremes.py: the extremes of a scored run, and one line (no traceback) for a wrong folder."""

from __future__ import annotations

import polars as pl
import pytest

from bench.ifd_extremes import main


def test_prints_the_extremes_and_the_counts(tmp_path, capsys):
    rows = pl.DataFrame({
        "source_line": [1, 2, 3], "prompt": ["Translate 'friend'", "Fix: I goes", "Say hi"],
        "response": ["amigo", "I go", ""], "reasons": [["model.ifd_high"], [], ["model.ifd_high"]],
        "ifd": [1.3, 0.02, None], "ppl_response": [900.0, 1.1, None]})
    rows.write_parquet(tmp_path / "annotated.parquet")
    main([str(tmp_path), "1"])
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("  line     1  ifd 1.30") and out[3].startswith("  line     2  ifd 0.02")
    assert out[-1].startswith("IFD >= 1: 1 of 2 scored rows (3 in the run); model.ifd_high on 1; median IFD 0.66")


@pytest.mark.parametrize("argv", [[], ["RUN", "x"]])
def test_a_wrong_call_is_one_usage_line(argv):
    with pytest.raises(SystemExit, match="usage"):
        main(argv)


def test_a_folder_without_a_run_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="no annotated.parquet"):
        main([str(tmp_path)])
    pl.DataFrame({"source_line": [1]}).write_parquet(tmp_path / "annotated.parquet")
    with pytest.raises(SystemExit, match="no ifd column"):
        main([str(tmp_path)])
