"""`make test`'s runner (tests/runner.py) reads each pass's JUnit XML: its failed tests, to run them
once more, and its slowest, printed after the pass; it spreads each pass over worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runner import failed_tests, slowest_tests, workers

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.e2e.test_a" name="test_quick" time="0.250"/>
<testcase classname="tests.e2e.test_a" name="test_slow" time="41.500"><failure message="x"/></testcase>
<testcase classname="tests.fault.test_b" name="test_middling[sqlite]" time="7.125"/>
<testcase classname="libs.platform.tests.test_c" name="test_skipped" time="0.000"><skipped/></testcase>
</testsuite></testsuites>
"""


def test_the_slowest_tests_of_a_pass_are_listed_slowest_first_with_their_node_ids(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    lines = slowest_tests(junit, count=2).splitlines()
    assert lines[0] == "3 tests run, 49 s in all; the 2 slowest:"  # the skipped one is not counted
    assert [line.split() for line in lines[1:]] == [
        ["41.5", "s", "tests/e2e/test_a.py::test_slow"],
        ["7.1", "s", "tests/fault/test_b.py::test_middling[sqlite]"],
    ]
    assert failed_tests(junit) == ["tests/e2e/test_a.py::test_slow"]


def test_a_pass_that_wrote_no_report_lists_no_tests(tmp_path: Path) -> None:
    assert slowest_tests(tmp_path / "missing.xml") == "0 tests run, 0 s in all; the 0 slowest:"
    assert failed_tests(tmp_path / "missing.xml") == []


def test_a_pass_runs_whole_files_in_two_workers_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TSUNAGU_TEST_WORKERS", raising=False)
    assert workers() == ["-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"]
    monkeypatch.setenv("TSUNAGU_TEST_WORKERS", "3")
    assert workers()[:2] == ["-n", "3"]
    monkeypatch.setenv("TSUNAGU_TEST_WORKERS", "0")  # the pass's own process, as before
    assert workers() == []
