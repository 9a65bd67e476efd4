"""The budget governor's pacing of run-state rounds (engine/governor.py)."""

from __future__ import annotations


def test_run_state_rounds_slow_down_with_the_runs_in_flight_then_speed_up() -> None:
    from tako_gha.engine.governor import Governor

    floor = Governor.status_floor
    assert [floor(b, 8.0) for b in (0, 1, 2)] == [8.0, 8.0, 8.0]  # few runs: every 8 s
    assert floor(6, 8.0) == 24.0  # 600 runs in flight: a third as often (6 queries / 24 s)
    assert floor(8, 8.0) == floor(100, 8.0) == 32.0  # never past 4 times the interval


# ------------------------------------------------------------------ slotted writes
def _simulate(count: int, rest: float, slotted: bool, minutes: float = 20.0,
              latency: float = 0.08) -> tuple[list[tuple[float, int]], list[int]]:
    """``count`` processes, each handed ``rest`` REST points a minute (less than a
    5-point write) and started within the same 40 s, writing whenever their pacer,
    slot and minute allow, as the fan-out does: every write's time and each process's
    number of writes. One clock is the epoch of all (the server's)."""
    import heapq
    import random

    from fakes import FakeClock

    from tako_gha.core.budget import Budget, Slot
    from tako_gha.engine.governor import Governor
    from tako_gha.engine.pacing import DispatchPacer
    from tako_gha.forge.base import CostLedger

    clock = FakeClock()
    rng = random.Random(7)
    parents = [Slot().part(i, 10) for i in range(10)]
    procs = []
    for i in range(count):
        governor = Governor(CostLedger(clock.monotonic), clock.monotonic,
                            budget=Budget(rest, 100, 1, 100_000, 100_000),
                            slot=parents[i % 10].part(i // 10, count // 10) if slotted else None)
        pacer = DispatchPacer(clock, *governor.dispatch_rates())
        procs.append((governor, pacer))
    writes: list[tuple[float, int]] = []
    done = [0] * count
    wake = [(rng.uniform(0, 40), i) for i in range(count)]
    heapq.heapify(wake)
    end = minutes * 60
    while wake:
        at, i = heapq.heappop(wake)
        if at > end:
            break
        clock.t = at
        governor, pacer = procs[i]
        wait = max(pacer.wait_time(), governor.slot_wait(), governor.handover_wait(None))
        if wait <= 0:
            clock.t = at + latency  # the write lands a little after it was sent
            governor.ledger.record("dispatch", points=5)
            pacer.record(back=governor.note_write())
            writes.append((clock.t, 5))
            done[i] += 1
            wait = max(pacer.wait_time(), governor.slot_wait(), 0.01)
        heapq.heappush(wake, (clock.t + max(wait, 0.01), i))
    return writes, done


def _peak(writes: list[tuple[float, int]]) -> int:
    """The most points any trailing minute held."""
    peak, left, total = 0, 0, 0
    for t, points in writes:
        total += points
        while writes[left][0] <= t - 60:
            total -= writes[left][1]
            left += 1
        peak = max(peak, total)
    return peak


def test_slotted_siblings_write_at_their_own_instants_so_their_lumps_never_pile_up() -> None:
    # 300 fan-outs each handed 2.3 points a minute (690 together): one 5-point write
    # every 130 s each. Started together and unslotted, their writes fall in the same
    # minutes (2.1x the points handed out); slotted, any minute holds what was handed
    # out and a write more.
    count, rest = 300, 2.3
    slotted, done = _simulate(count, rest, slotted=True)
    assert _peak(slotted) <= count * rest + 5 + 5
    unslotted, _ = _simulate(count, rest, slotted=False)
    assert _peak(unslotted) > 1.5 * count * rest
    # and no write was lost to the slots: each process keeps its pace (130 s a write)
    # over the 20 minutes, its first instant up to one period after its start
    period = 60 * 5 / rest
    assert min(done) >= int((20 * 60 - 40) / period) - 1
