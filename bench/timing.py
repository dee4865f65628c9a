"""Interleaved timing: the runners take turns in every round, so machine noise hits them alike.

Runners can share a group: the endpoint and the floor on one catalog database, say. The first
call after a switch to another group runs with cold CPU caches for that group's data. A fixed
order gives that place to the same runners every time: with two groups of two and simply
alternating rounds, one runner of each group is never first after a switch and the other is first
every other round. That biases every comparison across groups. ``interleaved`` orders the rounds
so that each runner of a group is first after a switch equally often.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Runner:
    call: Callable[[], object]
    prepare: Callable[[], None] | None = None  # run before each call, outside the timed part
    group: str = ""  # runners of one group share data (one database): see the module's docstring


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
    """Time each runner ``iterations`` times; every round runs all of them, group by group.

    The groups alternate their order every round. The runners within a group follow a cycle of
    four rounds: forward, backward, backward, forward. Each round then starts in the group the
    last one ended in (one switch a round), and each runner of a group of two is first after the
    switch once every four rounds. Runners without a group are groups of one, and their order
    simply alternates, as before."""
    names = list(runners)
    for _ in range(warmup):
        for name in names:
            _run(runners[name])
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(iterations):
        for name in round_order(runners, round_number):
            samples[name].append(_run(runners[name]))
    return {name: Stats.of(values) for name, values in samples.items()}


def round_order(runners: dict[str, Runner], round_number: int) -> list[str]:
    groups: dict[str, list[str]] = {}
    for name, runner in runners.items():
        groups.setdefault(runner.group or name, []).append(name)
    blocks = list(groups.values())
    if round_number % 2:
        blocks.reverse()
    inner_forward = round_number % 4 in (0, 3)
    return [name for block in blocks for name in (block if inner_forward else reversed(block))]


def _run(runner: Runner) -> float:
    if runner.prepare is not None:
        runner.prepare()
    start = time.perf_counter()
    runner.call()
    return time.perf_counter() - start
