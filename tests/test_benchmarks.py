"""`registry bench store` runs end to end (tiny sizes) and writes every figure it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_the_store_benchmark_measures_every_workload_against_raw_and_the_peer(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "registry.cli", "bench", "store", "--events", "20", "--batches", "1",
         "--repeats", "1", "--json", str(output)],
        cwd=PROJECT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ratio" in result.stdout and "vs peer" in result.stdout
    figures = json.loads(output.read_text())
    assert figures["schema_version"] == 1
    assert set(figures["results"]) == {
        "single append, 1 connection",
        "single append, 8 connections",
        "batched append, 1000 per transaction",
        "read the log in global order",
    }
    for workload, rates in figures["results"].items():
        assert {"registry", "raw", "eventsourcing"} <= set(rates), workload
        assert all(rate > 0 for rate in rates.values()), workload


def test_the_units_benchmark_loads_everything_and_reports_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "units.json"
    result = subprocess.run(
        [sys.executable, "-m", "registry.cli", "bench", "units", "--cores", "0", "--lookups", "400",
         "--searches", "4", "--json", str(output)],
        cwd=PROJECT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "full load, seconds" in result.stdout and "ratio" in result.stdout
    figures = json.loads(output.read_text())
    assert figures["events"] == 24_801
    for key in ("load_events_per_second", "batched_events_per_second", "path_lookups_per_second",
                "raw_path_walks_per_second", "searches_per_second"):  # fmt: skip
        assert figures[key] > 0, key


def test_the_projections_benchmark_rebuilds_and_measures_lag(tmp_path: Path) -> None:
    output = tmp_path / "projections.json"
    result = subprocess.run(
        [sys.executable, "-m", "registry.cli", "bench", "projections", "--events", "400", "--rate", "50",
         "--seconds", "1", "--json", str(output)],
        cwd=PROJECT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rebuild all projections" in result.stdout and "lag at 50 events/s" in result.stdout
    figures = json.loads(output.read_text())
    assert figures["folded"] >= 400 and figures["rebuild_events_per_second"] > 0 and figures["lag_samples"] == 50


def test_the_api_benchmark_times_every_operation_over_graphql_and_directly(tmp_path: Path) -> None:
    output = tmp_path / "api.json"
    result = subprocess.run(
        [sys.executable, "-m", "registry.cli", "bench", "api", "--children", "40", "--iterations", "3",
         "--warmup", "1", "--json", str(output)],
        cwd=PROJECT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ratio p95" in result.stdout and "verdict:" in result.stdout
    figures = json.loads(output.read_text())
    assert figures["schema_version"] == 1 and figures["synchronous_commit"] == "on"
    assert set(figures["operations"]) == {
        "floor: me (no database)",
        "commune register page",
        "province register page",
        "case with history",
        "district indicators",
        "as-of register page",
        "registerChild mutation",
    }
    for operation, measured in figures["operations"].items():
        for path in ("graphql", "direct"):
            assert measured[path]["samples"] == 3, (operation, path)
            assert all(measured[path][key] > 0 for key in ("p50_ms", "p95_ms", "requests_per_second")), operation
        assert measured["ratio_p95"] > 0 and isinstance(measured["met"], bool), operation


def test_the_export_benchmark_exports_a_province_in_every_format_against_its_reads(tmp_path: Path) -> None:
    # Run as `registry bench` runs a suite (runpy, so that benchmarks/projections.py does not shadow the package);
    # `registry bench export` is the same once the command line names the suite.
    output = tmp_path / "export.json"
    code = ("import runpy, sys; sys.argv = ['benchmarks/export.py', '--children', '40', '--json', sys.argv[1]];"
            " runpy.run_path('benchmarks/export.py', run_name='__main__')")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code, str(output)], cwd=PROJECT, capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "export CSV, records/s" in result.stdout and "ratio" in result.stdout
    figures = json.loads(output.read_text())
    assert figures["children_imported"] == 40 and 0 < figures["children_exported"] < 40
    for key in ("csv", "jsonl", "xlsx", "quality", "baseline"):
        assert figures[f"{key}_records_per_second"] > 0, key


def test_the_import_benchmark_imports_two_files_and_follows_the_feed(tmp_path: Path) -> None:
    output = tmp_path / "import.json"
    result = subprocess.run(
        [sys.executable, "-m", "registry.cli", "bench", "import", "--rows", "200", "--json", str(output)],
        cwd=PROJECT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "import, rows/s" in result.stdout and "feed to the national child database" in result.stdout
    figures = json.loads(output.read_text())
    assert (figures["large"]["rows"], figures["large"]["created"], figures["small"]["rows"]) == (200, 200, 20)
    assert figures["baseline"]["events"] == figures["large"]["events"] > 200  # registrations and classifications
    assert figures["feed_integration"]["events"] == figures["feed_officer"]["events"] == figures["read"]["events"]
    assert figures["feed_integration"]["with_personal"] > 0 and figures["feed_officer"]["with_personal"] == 0
    for key in ("small", "large"):
        assert figures[key]["peak_rss_mb"] > 0 and figures[key]["rows_per_second"] > 0


def test_the_audit_benchmark_verifies_a_rehashed_log_against_its_raw_read(tmp_path: Path) -> None:
    output = tmp_path / "audit.json"
    result = subprocess.run(
        [sys.executable, "-m", "registry.cli", "bench", "audit", "--events", "500", "--json", str(output)],
        cwd=PROJECT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "verify (chains, leaves, roots)" in result.stdout and "rebuild every projection" in result.stdout
    figures = json.loads(output.read_text())
    assert figures["events"] > 24_801  # the units, then the synthetic log: every chain true (verify found nothing)
    for key in ("checkpoint_events_per_second", "read_events_per_second", "verify_events_per_second",
                "rebuild_events_per_second"):  # fmt: skip
        assert figures[key] > 0, key
