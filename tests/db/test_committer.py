"""The group-commit thread: batches, answers, and no submitter left waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from db.committer import Committer


def _submit_all(committer: Committer[int, str | None], items: Sequence[int]) -> dict[int, str | None]:
    answers: dict[int, str | None] = {}
    threads = [threading.Thread(target=lambda i=i: answers.update({i: committer.submit(i)})) for i in items]
    for t in threads:
        t.start()
    return answers if all(_joined(t) for t in threads) else {}


def _joined(thread: threading.Thread) -> bool:
    thread.join(10)
    return not thread.is_alive()


def test_what_waits_together_is_written_together_at_most_max_batch_at_once() -> None:
    batches: list[list[int]] = []
    gate = threading.Event()

    def write(batch: Sequence[int]) -> list[str]:
        batches.append(list(batch))
        gate.wait(10)  # the first batch is slow: the other seven gather behind it
        return [f"done {i}" for i in batch]

    committer: Committer[int, str | None] = Committer(write, refused=None, name="test", max_batch=3)
    first = threading.Thread(target=committer.submit, args=(0,))
    first.start()
    while batches != [[0]]:
        threading.Event().wait(0.01)
    threads = [threading.Thread(target=committer.submit, args=(i,)) for i in range(1, 8)]
    for t in threads:
        t.start()
    while len(committer._waiting) < 7:  # all seven wait while the first batch is written
        threading.Event().wait(0.01)
    gate.set()
    assert all(_joined(t) for t in [first, *threads])
    committer.close()
    assert [len(b) for b in batches] == [1, 3, 3, 1]
    assert sorted(i for b in batches for i in b) == list(range(8))


def test_each_submitter_gets_its_own_answer() -> None:
    committer: Committer[int, str | None] = Committer(lambda b: [f"done {i}" for i in b], refused=None, name="test")
    assert _submit_all(committer, range(20)) == {i: f"done {i}" for i in range(20)}
    committer.close()


def test_a_batch_that_raises_or_answers_short_refuses_its_submitters_and_the_thread_goes_on() -> None:
    calls = 0

    def write(batch: Sequence[int]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database gone")
        if calls == 2:
            return []  # answered none of them
        return [f"done {i}" for i in batch]

    committer: Committer[int, str | None] = Committer(write, refused=None, name="test")
    assert committer.submit(1) is None
    assert committer.submit(2) is None
    assert committer.submit(3) == "done 3"
    committer.close()


def test_closing_refuses_whoever_waits_and_whoever_comes_later() -> None:
    taken, release = threading.Event(), threading.Event()

    def slow(batch: Sequence[int]) -> list[str]:
        taken.set()
        release.wait(60)
        return [f"done {i}" for i in batch]

    committer: Committer[int, str | None] = Committer(slow, refused=None, name="test")
    answers: dict[int, str | None] = {}
    first = threading.Thread(target=lambda: answers.update({1: committer.submit(1)}))
    first.start()
    assert taken.wait(30)  # the thread is writing item 1 (and holds it until released)
    second = threading.Thread(target=lambda: answers.update({2: committer.submit(2)}))
    second.start()
    deadline = time.monotonic() + 30
    while not committer._waiting:  # item 2 waits for the next batch
        assert time.monotonic() < deadline
        threading.Event().wait(0.01)
    closer = threading.Thread(target=committer.close)
    closer.start()
    assert _joined(second) and answers[2] is None  # refused at once, not after the slow batch
    assert committer.submit(3) is None
    release.set()
    assert _joined(first) and answers[1] == "done 1"  # the batch in hand still completes
    assert _joined(closer)
