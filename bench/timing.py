"""Interleaved timing: the runners take turns in every round, so machine noise hits them alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Runner:
    call: Callable[[], object]
    prepare: Callable[[], None] | None = None  # run before each call, outside the timed part


@dataclass(frozen=True)
class Stats:
    samples: int
    median_ms: float
    p90_ms: float
    min_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Stats:
        ms = sorted(value * 1000 for value in seconds)
        p90 = statistics.quantiles(ms, n=10, method="inclusive")[-1] if len(ms) > 1 else ms[0]
        return cls(samples=len(ms), median_ms=statistics.median(ms), p90_ms=p90, min_ms=ms[0])


def interleaved(runners: dict[str, Runner], iterations: int, warmup: int) -> dict[str, Stats]:
    """Time each runner ``iterations`` times; every round runs all of them, in alternating order."""
    names = list(runners)
    for _ in range(warmup):
        for name in names:
            _run(runners[name])
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(iterations):
        for name in names if round_number % 2 == 0 else reversed(names):
            samples[name].append(_run(runners[name]))
    return {name: Stats.of(values) for name, values in samples.items()}


def _run(runner: Runner) -> float:
    if runner.prepare is not None:
        runner.prepare()
    start = time.perf_counter()
    runner.call()
    return time.perf_counter() - start
