"""The benchmarks' interleaved order (bench/timing.py): fair to every runner of a group."""

from collections import Counter

from bench.timing import Runner, interleaved, round_order


def _firsts_after_switch(runners: dict[str, Runner], rounds: int) -> Counter:
    sequence = [name for number in range(rounds) for name in round_order(runners, number)]
    return Counter(current for previous, current in zip(sequence, sequence[1:], strict=False)
                   if runners[previous].group != runners[current].group)


def test_every_runner_of_a_group_is_first_after_a_switch_equally_often():
    runners = {f"{side} {catalog}": Runner(lambda: None, group=catalog)
               for catalog in ("small", "large") for side in ("endpoint", "floor")}
    firsts = _firsts_after_switch(runners, 4 * 25)
    assert set(firsts) == set(runners)
    assert len(set(firsts.values())) == 1
    # One switch a round: each round starts in the group the previous one ended in.
    assert sum(firsts.values()) == 4 * 25


def test_every_round_runs_every_runner_once():
    runners = {name: Runner(lambda: None, group=name[0]) for name in ("a1", "a2", "a3", "b1", "c1", "c2")}
    for number in range(8):
        assert sorted(round_order(runners, number)) == sorted(runners)


def test_runners_without_a_group_simply_alternate():
    runners = {"none": Runner(lambda: None), "rules": Runner(lambda: None)}
    assert [round_order(runners, number) for number in range(3)] == [
        ["none", "rules"], ["rules", "none"], ["none", "rules"]]


def test_interleaved_times_each_runner_once_a_round():
    calls = Counter()
    runners = {name: Runner(lambda name=name: calls.update([name]), group=group)
               for name, group in (("e1", "x"), ("f1", "x"), ("e2", "y"), ("f2", "y"))}
    stats = interleaved(runners, iterations=6, warmup=1)
    assert calls == {name: 7 for name in runners}
    assert {name: result.samples for name, result in stats.items()} == {name: 6 for name in runners}
