"""The logic of the scale and poll benchmarks (bench/bench_scale.py, bench/bench_poll.py): the
fits that turn three store sizes into predictions, the check that a cached store is a finished
build, the percentile of the sessions' script runs, the reading of `python -X importtime`, and a
view's first open above the floor (bench/bench_dashboard.py).
Nothing here is timed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.__main__ import percentile
from bench.bench_dashboard import above_floor
from bench.bench_poll import import_times
from bench.bench_scale import disk_usage, fit, store_incomplete

SIZES = [200_000.0, 1_000_000.0, 2_000_000.0]


def test_a_power_law_is_recognised_and_extrapolated() -> None:
    ts = [3e-5 * n**0.6 for n in SIZES]
    f = fit(SIZES, ts)
    assert f["best"] == "power"
    assert f["exponent"] == pytest.approx(0.6)
    assert f["predict"][100_000_000] == pytest.approx(3e-5 * 1e8**0.6)


def test_a_straight_line_with_an_intercept_is_recognised() -> None:
    ts = [0.05 + 2e-8 * n for n in SIZES]
    f = fit(SIZES, ts)
    assert f["best"] == "linear"
    assert f["predict"][10_000_000] == pytest.approx(0.05 + 0.2)
    assert f["linear_err"] < 1e-9 < f["power_err"]


def test_two_points_use_the_power_law_through_them() -> None:
    f = fit([200_000.0, 2_000_000.0], [0.037, 0.20])
    assert f["best"] == "power"
    assert f["exponent"] == pytest.approx(math.log10(0.20 / 0.037))
    assert f["predict"][10_000_000] == pytest.approx(0.20 * 5 ** f["exponent"])


def _store(folder: Path, articles: int, meta: int | None) -> Path:
    data = folder / "data"
    (data / "articles").mkdir(parents=True)
    (data / "mentions").mkdir()
    (data / "articles" / "a.parquet").write_bytes(b"x" * 1000)
    (data / "articles" / "old.parquet").write_bytes(b"x" * 500)  # replaced, not yet deleted
    (data / "mentions" / "m.parquet").write_bytes(b"y" * 300)
    manifest = {
        "tables": {
            "articles": [{"path": "articles/a.parquet", "rows": articles}],
            "mentions": [{"path": "mentions/m.parquet", "rows": 2 * articles}],
        }
    }
    (data / "manifest.json").write_text(json.dumps(manifest))
    if meta is not None:
        (folder / "bench-store.json").write_text(json.dumps({"articles": meta}))
    return folder


def test_an_unfinished_build_is_not_taken_for_a_store(tmp_path: Path) -> None:
    assert "unfinished" in store_incomplete(_store(tmp_path / "a", 400, None))
    assert "build says 1000" in store_incomplete(_store(tmp_path / "b", 400, 1000))
    assert store_incomplete(_store(tmp_path / "c", 400, 400)) == ""
    assert store_incomplete(tmp_path / "missing") == "no manifest"


def test_disk_usage_counts_the_live_files_apart_from_the_folder(tmp_path: Path) -> None:
    data = _store(tmp_path / "s", 400, 400) / "data"
    usage = disk_usage(data)
    manifest = (data / "manifest.json").stat().st_size
    assert usage["tables"] == {"articles": 1000, "mentions": 300}
    assert usage["live"] == 1300 + manifest
    assert usage["folder"] == 1800 + manifest
    assert (usage["articles"], usage["mentions"]) == (400, 800)


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(i) for i in range(1, 21)]  # 1..20
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 19.0
    assert percentile(values, 100) == 20.0
    assert percentile([3.0], 95) == 3.0


def test_import_times_sums_each_top_level_package() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       200 |        200 |   encodings.utf_8",
            "import time:      1000 |       5000 | encodings",
            "import time:       300 |        300 |   duckdb.functional",
            "import time:      2000 |     400000 | duckdb",
            "import time:       100 |     100000 | monitor.cli",
            "import time:       100 |      20000 | monitor.config",
            "unrelated line",
        ]
    )
    top = import_times(stderr, top=2)
    assert [name for name, _ in top] == ["duckdb", "encodings"]
    assert [t for _, t in top] == pytest.approx([0.0023, 0.0012])


def test_a_view_above_the_floor_is_the_median_of_paired_differences() -> None:
    """Each first open against the floor's open right after it: a slow moment of the machine
    that slows both opens of one pair does not move the figure (a difference of the medians
    would say 0.6 here, the pairs say 0.2)."""
    opens = {"compare": [3.0, 9.0, 3.4], "co-mentions": [2.5, 2.6, 2.4]}
    floors = {"compare": [2.8, 8.8, 2.4], "co-mentions": [2.7, 2.5, 2.4]}
    assert above_floor(opens, floors) == pytest.approx({"compare": 0.2, "co-mentions": 0.0})
