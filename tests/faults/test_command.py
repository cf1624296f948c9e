"""`vurti faults` without running a case: the list, and a clear refusal of an unknown case."""

from __future__ import annotations

from click.testing import CliRunner

from vurti.cli.faults_cmd import faults
from vurti.faults.cases import CASES
from vurti.faults.count import Counts
from vurti.faults.runner import Result
from vurti.faults.table import markdown, text


def test_list_names_every_case_and_whether_ci_runs_it() -> None:
    result = CliRunner().invoke(faults, ["--list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == [c.name for c in CASES]
    assert all(("short" in line) == c.short for line, c in zip(lines, CASES, strict=True))


def test_an_unknown_case_is_refused_before_anything_starts() -> None:
    result = CliRunner().invoke(faults, ["--case", "kill-everything"])
    assert result.exit_code == 2
    assert "unknown case 'kill-everything'" in result.output


def test_the_table_shows_the_counts_and_what_was_restarted() -> None:
    results = [Result("a", "fault a", "sqlite", Counts(0, 0, 0, 10, 12), 1.25, ()),
               Result("b", "fault b", "postgres", Counts(1, 2, 3, 5, 6), None, (), ("fetch1",))]
    assert not results[1].ok and results[0].ok
    out = text(results).splitlines()
    assert out[1].split() == ["fault", "a", "sqlite", "0", "0", "0", "1.2", "10", "12", "-"]
    assert out[2].split() == ["fault", "b", "postgres", "1", "2", "3", "no", "5", "6", "fetch1"]
    assert markdown(results).splitlines()[2] == "| fault a | sqlite | 0 | 0 | 0 | 1.2 | 10 | 12 | - |"
