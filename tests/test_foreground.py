"""Acks first: an answer's search waits until no Slack request is being acknowledged."""

from __future__ import annotations

import threading

from bot.foreground import Foreground


def test_a_waiter_is_released_only_after_the_request_being_served_is_done() -> None:
    gate = Foreground()
    assert gate.wait_quiet(timeout=1.0, settle=0.0)  # nothing served: go
    released = threading.Event()
    order: list[str] = []
    entered = threading.Event()
    leave = threading.Event()

    def request() -> None:
        with gate.serving():
            entered.set()
            leave.wait(5)
            order.append("acked")

    def answer() -> None:
        entered.wait(5)
        if gate.wait_quiet(timeout=5.0, settle=0.01):
            order.append("searched")
        released.set()

    threads = [threading.Thread(target=request), threading.Thread(target=answer)]
    for t in threads:
        t.start()
    entered.wait(5)
    assert not released.wait(0.05)  # held while the ack is in flight
    leave.set()
    for t in threads:
        t.join(5)
    assert order == ["acked", "searched"]


def test_a_waiter_gives_up_when_requests_never_stop() -> None:
    gate = Foreground()
    with gate.serving():
        assert gate.wait_quiet(timeout=0.05) is False
