"""benchmarks/tenant_scale.py's parts that need no stack: the generated config folder, the lock-wait figures,
the targets and the plot. The whole benchmark runs a real stack for minutes; docs/benchmarks.md has its figures."""

from __future__ import annotations

import os
import sys
import time

import pytest

from salestalk import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import tenant_scale


def test_generated_folder_pins_the_generated_tenants_on_the_chosen_sources_only(tmp_path) -> None:
    from dev.embedded import demo_resource
    from dev.fakeapi.seed import generated_tenants
    from salestalk.config.loader import load_sources

    source = tenant_scale.pick_sources(None, all_sources=False)
    tenants = list(generated_tenants(5))
    folder = tenant_scale.tenant_sources_folder(tmp_path / "sources", source, tenants)
    loaded = load_sources(folder)
    assert list(loaded.configs) == source
    config = loaded.configs[source[0]]
    assert config.tenants == ["t001", "t002", "t003", "t004", "t005"]
    assert config.extract.kind == "rest_api"
    assert demo_resource(config), "the fake API must serve the generated tenants' data"

    threaded = tenant_scale.tenant_sources_folder(tmp_path / "threads", source, tenants, tenant_threads=1)
    assert load_sources(threaded).configs[source[0]].concurrency.tenant_threads == 1


def test_lock_wait_per_step_is_n_a_unless_the_steps_record_it() -> None:
    results = {
        "t001": {
            "load_to_staging": {"lock_wait_seconds": 1.0, "lock_held_seconds": 0.5},
            "publish": {"published": 3},
        },
        "t002": {"load_to_staging": {"lock_wait_seconds": 3.0}, "publish": {"published": 3}},
    }
    waits = tenant_scale.lock_waits(results)
    assert waits["load_to_staging"] == {"median": 2.0, "max": 3.0, "sum": 4.0, "held": 0.5, "tenants": 2}
    assert waits["publish"] == "n/a"


def test_table_shows_threads_cpu_and_the_lock_held_over_every_source_and_step() -> None:
    steps = {"load_to_staging": {"median": 1, "max": 2, "sum": 3, "held": 4.0}, "publish": "n/a"}
    point = _point(
        task_instances=23,
        seconds_per_tenant=2.7,
        peak_pss_mib=900.0,
        cpu_busy_cores=1.37,
        tenant_threads=1,
        lock_wait={
            "source_a": steps,
            "source_b": {"validate": {"median": 0, "max": 0, "sum": 0, "held": 6.0}},
        },
    )
    assert tenant_scale.lock_held_total(point) == 10.0
    row = tenant_scale.table([point]).splitlines()[-1]
    assert "1 tenant threads" in row and "| 1.37 | 10 |" in row
    assert row.endswith("| source_a: load_to_staging 1.0/2.0; publish n/a<br>source_b: validate 0.0/0.0 |"), (
        "every source's waits in the one last cell"
    )
    assert tenant_scale.lock_held_total(_point()) is None


def test_cpu_meter_reports_busy_cores_within_the_machine() -> None:
    with tenant_scale.CpuMeter() as cpu:
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            pass
    assert cpu.busy_cores is not None and 0.0 < cpu.busy_cores <= (os.cpu_count() or 1)


def _point(**changes):
    point = {
        "sources": ["s"],
        "tenants": 300,
        "executor": "local",
        "workers": None,
        "wall_seconds": 800.0,
        "failed_tasks": 0,
        "lock_timeout_failures": 0,
    }
    return {**point, **changes}


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param([_point()], ["PASS", "not run", "PASS", "not run"], id="300-within"),
        pytest.param([_point(wall_seconds=901.0)], ["FAIL", "not run", "PASS", "not run"], id="300-late"),
        pytest.param(
            [_point(tenants=30, lock_timeout_failures=1, failed_tasks=1)],
            ["not run", "not run", "FAIL", "not run"],
            id="lock-timeout",
        ),
        pytest.param(
            [
                _point(tenants=100, executor="celery", workers=1, wall_seconds=300.0),
                _point(tenants=100, executor="celery", workers=2, wall_seconds=200.0),
            ],
            ["not run", "not run", "PASS", "FAIL"],
            id="celery-1.5x",
        ),
    ],
)
def test_targets(points, expected) -> None:
    assert [result for _, result, _ in tenant_scale.targets(points)] == expected


def test_plot_has_one_curve_per_label(tmp_path) -> None:
    history = [
        {
            "label": "before",
            "points": [_point(tenants=3, wall_seconds=50.0), _point(tenants=30, wall_seconds=360.0)],
        },
        {"label": "after", "points": [_point(tenants=3, wall_seconds=40.0)]},
    ]
    path = tmp_path / "curve.svg"
    tenant_scale.svg_plot(tenant_scale.curve(history), path)
    text = path.read_text()
    assert text.count("<polyline") == 2
    assert ">before</text>" in text and ">after</text>" in text


def test_component_cpu_counts_a_components_busy_child(tmp_path) -> None:
    import subprocess

    class Stack:
        processes = {
            "busy": subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import time\ntime.sleep(0.3)\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\nimport time as _; _.sleep(30)",
                ]
            ),
            "idle": subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]),
        }

    try:
        with tenant_scale.ComponentCpu(Stack()) as meter:
            time.sleep(2.0)
    finally:
        for process in Stack.processes.values():
            process.kill()
            process.wait()
    assert meter.seconds["busy"] >= 0.4 > meter.seconds["idle"]
    assert list(meter.seconds)[0] == "busy", "components are listed busiest first"
    line = tenant_scale.cpu_lines([_point(tenants=3, cpu_seconds_by_component=meter.seconds)])[0]
    assert line.startswith("- CPU seconds by component (3 tenants, local; 800 s wall): busy ")
    stored = _point(tenants=3, cpu_seconds_by_component={"busy": 1.0}, gx_results_stored=730)
    assert "; 730 GX results stored before)" in tenant_scale.cpu_lines([stored])[0]


def test_task_timing_is_task_seconds_over_wall_and_median_per_task() -> None:
    def ti(task_id, queued, start, end):
        day = "2026-11-01T00:00:"
        return {
            "task_id": task_id,
            "queued_when": f"{day}{queued:02d}Z",
            "start_date": f"{day}{start:02d}Z",
            "end_date": f"{day}{end:02d}Z",
        }

    tis = [
        ti("tenants", 0, 1, 3),
        ti("tenant.extract", 3, 4, 14),
        ti("tenant.extract", 3, 6, 12),
        ti("report", 14, 15, 16),
        {"task_id": "deadline", "start_date": None, "end_date": None},
    ]
    timing = tenant_scale.task_timing(tis, wall_seconds=20.0)
    assert timing["tasks_running_mean"] == 0.95  # (2 + 10 + 6 + 1) / 20
    assert timing["queued_to_running_median"] == 1.0
    assert timing["task_seconds_median"] == {"tenants": 2.0, "extract": 8.0, "report": 1.0}


def test_the_celery_target_names_the_machines_cpu_ceiling(monkeypatch) -> None:
    """One worker's run kept 1.25 of 2 cores busy for 100 s: its CPU seconds take 62.5 s on both cores, so
    no number of workers can make it more than 1.6x faster here."""
    monkeypatch.setattr(tenant_scale.os, "cpu_count", lambda: 2)
    one = _point(tenants=100, executor="celery", workers=1, wall_seconds=100.0)
    one.update(cpu_busy_cores=1.25, observed_seconds=100.0)
    two = _point(tenants=100, executor="celery", workers=2, wall_seconds=80.0)
    (celery,) = [t for t in tenant_scale.targets([one, two]) if "Celery" in t[0]]
    assert celery[1:] == ("FAIL", "1.25x (CPU ceiling on this machine 1.60x)")
    assert tenant_scale.cpu_ceiling(_point()) is None, "a point without CPU figures has no ceiling"


def test_pss_sampler_reads_pss_at_new_rss_highs_only_and_keeps_the_peak(monkeypatch) -> None:
    """A child that grows once, then idles: PSS is read when RSS rises, not at every tick."""
    import subprocess

    grow = "import time\ntime.sleep(0.5)\nblock = bytearray(64 << 20)\nblock[::4096] = b'x' * len(block[::4096])\ntime.sleep(30)"

    class Stack:
        processes = {"grower": subprocess.Popen([sys.executable, "-c", grow])}

    reads: list[int] = []
    real_pss = tenant_scale.pss_kib
    monkeypatch.setattr(tenant_scale, "pss_kib", lambda pid: reads.append(pid) or real_pss(pid))
    try:
        with tenant_scale.PssSampler(Stack(), interval=0.05, pss_every=60.0) as sampler:
            time.sleep(2.5)
    finally:
        Stack.processes["grower"].kill()
        Stack.processes["grower"].wait()
    ticks = 2.5 / 0.05
    assert 1 <= len(reads) < ticks / 3, f"{len(reads)} PSS reads in about {ticks:.0f} ticks"
    assert sampler.peak_kib >= 60 << 10, "the 64 MiB the child touched is in the peak"


def test_step_speedups_compare_each_steps_span_with_its_lock_hold() -> None:
    """A step's span runs from its first task's start to its last task's end; the line names the lock's hold."""

    def ti(task_id, start, end):
        return {
            "task_id": task_id,
            "start_date": f"2026-11-01T00:00:{start:02d}Z",
            "end_date": f"2026-11-01T00:00:{end:02d}Z",
        }

    one_tis = [
        ti("tenant.extract", 0, 5),
        ti("tenant.extract", 5, 10),
        ti("tenant.publish", 10, 12),
        ti("tenant.publish", 12, 14),
    ]
    two_tis = [
        ti("tenant.extract", 0, 5),
        ti("tenant.extract", 0, 5),
        ti("tenant.publish", 5, 9),
        ti("tenant.publish", 5, 9),
    ]
    assert tenant_scale.task_timing(one_tis, 14.0)["task_span_seconds"] == {"extract": 10.0, "publish": 4.0}
    one = _point(tenants=100, executor="celery", workers=1)
    two = _point(tenants=100, executor="celery", workers=2)
    one["runs"] = {"source_x": {"timing": tenant_scale.task_timing(one_tis, 14.0)}}
    two["runs"] = {"source_x": {"timing": tenant_scale.task_timing(two_tis, 9.0)}}
    one["lock_wait"] = {
        "source_x": {"publish": {"median": 0.1, "max": 0.2, "sum": 1.0, "held": 3.5, "tenants": 2}}
    }
    (line,) = tenant_scale.step_speedups(one, two)
    assert line.endswith("extract 10.0 → 5.0 s (2.00x); publish 4.0 → 4.0 s (1.00x; lock held 3.5 s)"), line
    assert tenant_scale.celery_step_lines([one, two])[0] == line
    assert tenant_scale.celery_step_lines([one]) == [], (
        "without the two-worker point there is nothing to compare"
    )
