"""The budget governor's pacing of run-state rounds (engine/governor.py)."""

from __future__ import annotations


def test_run_state_rounds_slow_down_with_the_runs_in_flight_then_speed_up() -> None:
    from tako_gha.engine.governor import Governor

    floor = Governor.status_floor
    assert [floor(b, 8.0) for b in (0, 1, 2)] == [8.0, 8.0, 8.0]  # few runs: every 8 s
    assert floor(6, 8.0) == 24.0  # 600 runs in flight: a third as often (6 queries / 24 s)
    assert floor(8, 8.0) == floor(100, 8.0) == 32.0  # never past 4 times the interval
