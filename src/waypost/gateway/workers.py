"""The pre-fork supervisor: N worker processes on one port, kept alive, stopped cleanly.

Each worker is forked before any event loop exists, binds the port itself with
``SO_REUSEPORT`` (the kernel spreads connections over them) and runs its own loop,
route sync and route table. The supervisor only watches: a worker that dies is
started again after a backoff (0.5 s doubling to 10 s, reset once it has lived 30 s);
a worker that cannot bind stops the whole gateway (exit 1), since trying again
would not help. On SIGTERM or SIGINT it sends SIGTERM to every worker, waits for
them up to a deadline (their drain grace plus 5 s) and SIGKILLs the stragglers.
Workers also drain on their own if the supervisor disappears. A worker that died has
its live metric gauges removed (``metrics.mark_dead``); its counters stay counted.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess
from types import FrameType

from waypost.gateway.core.backoff import Backoff
from waypost.gateway.metrics import mark_dead
from waypost.gateway.serve import EXIT_CANNOT_START, WorkerConfig, run_worker

__all__ = ["Supervisor"]

log = logging.getLogger("waypost.gateway.workers")

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_HEALTHY_AFTER = 30.0
_TICK = 1.0


@dataclass
class _Slot:
    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None


class Supervisor:
    def __init__(
        self,
        config: WorkerConfig,
        count: int,
        *,
        stop_timeout: float | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if count < 1:
            raise ValueError(f"need at least one worker, got {count}")
        self._config = config
        self._slots = [_Slot(i) for i in range(count)]
        self._stop_timeout = config.grace + 5.0 if stop_timeout is None else stop_timeout
        self._backoff = backoff or Backoff(initial=0.5, cap=10.0)
        self._clock = clock
        self._stopping = False
        self._context = multiprocessing.get_context("fork")
        self._wakeup: tuple[int, int] | None = None

    def run(self) -> int:
        """Start the workers and supervise them until a stop signal; the exit code."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        self._wakeup = (wake_read, wake_write)
        previous_fd = signal.set_wakeup_fd(wake_write)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in _STOP_SIGNALS}
        try:
            for slot in self._slots:
                self._start(slot)
            return self._supervise(wake_read)
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_fd)
            os.close(wake_read)
            os.close(wake_write)
            self._wakeup = None

    @property
    def pids(self) -> list[int]:
        return [s.process.pid for s in self._slots if s.process is not None and s.process.pid]

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _start(self, slot: _Slot) -> None:
        config = replace(self._config, reuse_port=True, parent_pid=os.getpid())
        sys.stdout.flush()
        sys.stderr.flush()
        process = self._context.Process(
            target=_worker_main,
            args=(config, self._wakeup),
            name=f"waypost-gateway-worker-{slot.index}",
        )
        process.start()
        slot.process, slot.started, slot.restart_at = process, self._clock(), None
        log.info("started worker %s (pid %s)", slot.index, process.pid)

    def _supervise(self, wake_read: int) -> int:
        while not self._stopping:
            now = self._clock()
            pending = [s.restart_at for s in self._slots if s.restart_at is not None]
            timeout = min([_TICK, *(max(0.0, at - now) for at in pending)])
            watched: list[int] = [wake_read]
            watched.extend(s.process.sentinel for s in self._slots if s.process is not None)
            multiprocessing.connection.wait(watched, timeout)
            _drain(wake_read)
            if self._stopping:
                break
            now = self._clock()
            for slot in self._slots:
                process = slot.process
                if process is not None and process.exitcode is not None:
                    code = process.exitcode
                    process.join()
                    if process.pid is not None:
                        mark_dead(process.pid)
                    slot.process = None
                    if code == EXIT_CANNOT_START:
                        log.error("worker %s could not start; stopping the gateway", slot.index)
                        return 1
                    lived = now - slot.started
                    slot.failures = 1 if lived >= _HEALTHY_AFTER else slot.failures + 1
                    delay = self._backoff.delay(slot.failures)
                    slot.restart_at = now + delay
                    log.error(
                        "worker %s (pid %s) exited with %s after %.1fs; restarting in %.1fs",
                        slot.index,
                        process.pid,
                        code,
                        lived,
                        delay,
                    )
                if slot.process is None and slot.restart_at is not None and slot.restart_at <= now:
                    self._start(slot)
        return 0

    def _stop_all(self) -> None:
        alive = [s.process for s in self._slots if s.process is not None]
        for process in alive:
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = self._clock() + self._stop_timeout
        while True:
            running = [p for p in alive if p.exitcode is None]
            remaining = deadline - self._clock()
            if not running or remaining <= 0:
                break
            multiprocessing.connection.wait([p.sentinel for p in running], remaining)
        for process in alive:
            if process.exitcode is None and process.pid is not None:
                log.error(
                    "worker pid %s did not stop in %.0fs; killing it",
                    process.pid,
                    self._stop_timeout,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
            process.join()
        for slot in self._slots:
            slot.process = None


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 512):
            pass


def _worker_main(config: WorkerConfig, wakeup: tuple[int, int] | None) -> None:
    """The body of a forked worker: drop the supervisor's signal plumbing, then serve."""
    signal.set_wakeup_fd(-1)
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    if wakeup is not None:
        for fd in wakeup:
            os.close(fd)
    sys.exit(run_worker(config))
