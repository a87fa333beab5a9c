"""How many replicas a Running endpoint should run, from the requests in flight: pure.

Knative's KPA in miniature. Gateways report the requests in flight per endpoint
every second; ``autoscale`` averages them over two windows:

- the **stable window** (60 s): the desire outside panic, so the count follows
  the load without chasing every blip; it scales down only when this window's
  desire is lower (and only as far as the panic window agrees, so a load that is
  still rising, which the stable window lags behind, keeps what it has);
- the **panic window** (6 s): when its desire reaches ``panic_threshold`` times the
  replicas there are, the autoscaler panics: it follows the short window upwards
  at once and never scales down, until a whole stable window has passed without
  the condition.

The desire is ``ceil(average in flight / target per replica)``, clamped to
``[min_replicas, max_replicas]``. Time is an argument and the state is a frozen
value returned with the count, so a trace of calls is a plain test.

Going to zero is not this module's business: a Running endpoint keeps at least
one replica, and sleeping after an idle timeout is a lifecycle decision
(``reconcile``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from waypost.model.spec import EndpointSpec

__all__ = ["AutoscaleConfig", "AutoscaleState", "autoscale", "explain", "window_average"]

#: (unix time, requests in flight summed over gateways), oldest first.
Sample = tuple[float, int]

# Averages a hair over a whole number must not ask for one more replica.
_EPSILON = 1e-9


@dataclass(frozen=True)
class AutoscaleConfig:
    target: float = 5.0  # requests in flight per replica
    min_replicas: int = 1
    max_replicas: int = 1
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_threshold: float = 2.0  # panic when the panic window wants this many times the replicas
    #: A sample stands for the time since the previous one, at most this long: gateways
    #: report every second, so a longer gap means nothing was in flight.
    sample_hold: float = 2.0

    def __post_init__(self) -> None:
        if self.target <= 0:
            raise ValueError(f"the target per replica must be above zero, not {self.target}")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"need 0 <= min <= max replicas, not {self.min_replicas}..{self.max_replicas}"
            )

    @classmethod
    def from_spec(cls, spec: EndpointSpec) -> AutoscaleConfig:
        """The config of a Running endpoint: at least one replica (zero is Sleeping's job)."""
        low = max(1, spec.replicas.min)
        return cls(
            target=spec.autoscaling.target_concurrency,
            min_replicas=low,
            max_replicas=max(low, spec.replicas.max),
        )


@dataclass(frozen=True)
class AutoscaleState:
    replicas: int  # the count decided last
    #: When the panic condition last held; None while not panicking.
    panic_since: float | None = None
    #: The highest count decided in this panic (a panic never scales below it).
    panic_peak: int = 0
    #: What the last decision saw: the average in flight it used, and its unclamped desire.
    concurrency: float = 0.0
    wanted: int = 0

    @property
    def panicking(self) -> bool:
        return self.panic_since is not None


def window_average(samples: Sequence[Sample], now: float, window: float, hold: float) -> float:
    """The time-weighted average in flight over the last ``window`` seconds.

    Each sample stands for the time since the previous sample (at most ``hold``
    seconds); time no sample stands for counts as zero. The average runs over the
    window, or over the part of it since the first sample, so a young endpoint's
    first burst is not diluted by time before it had any traffic.
    """
    if not samples:
        return 0.0
    begin = max(now - window, samples[0][0] - hold)
    if now <= begin:
        return 0.0
    total = 0.0
    previous = -math.inf
    for at, value in samples:
        lo = max(previous, at - hold, begin)
        hi = min(at, now)
        if hi > lo:
            total += value * (hi - lo)
        previous = at
    return total / (now - begin)


def _desire(concurrency: float, target: float) -> int:
    return max(0, math.ceil(concurrency / target - _EPSILON))


def autoscale(
    config: AutoscaleConfig, samples: Sequence[Sample], state: AutoscaleState, now: float
) -> tuple[int, AutoscaleState]:
    """The replicas to run now, and the state to pass to the next call."""
    stable = window_average(samples, now, config.stable_window, config.sample_hold)
    panic = window_average(samples, now, config.panic_window, config.sample_hold)
    want_stable = _desire(stable, config.target)
    want_panic = _desire(panic, config.target)
    current = max(state.replicas, 1)

    panic_since = state.panic_since
    if want_panic >= config.panic_threshold * current:
        panic_since = now  # start panicking, or keep on
    elif panic_since is not None and now - panic_since >= config.stable_window:
        panic_since = None  # a whole stable window without the condition: calm again

    if panic_since is not None:
        peak = max(state.panic_peak if state.panicking else current, current)
        wanted = max(want_panic, peak)
        concurrency = panic
    elif want_stable >= current:
        wanted, concurrency = want_stable, stable
    else:
        # Down only as far as the panic window agrees: a load still rising (a ramp the
        # stable window lags behind) keeps the replicas a panic gave it.
        wanted = max(want_stable, min(want_panic, current))
        concurrency = stable if wanted == want_stable else panic
    replicas = min(max(wanted, config.min_replicas), config.max_replicas)
    new_state = replace(
        state,
        replicas=replicas,
        panic_since=panic_since,
        panic_peak=replicas if panic_since is not None else 0,
        concurrency=concurrency,
        wanted=wanted,
    )
    return replicas, new_state


def explain(before: int, after: int, config: AutoscaleConfig, state: AutoscaleState) -> str:
    """The event reason for a change of count, e.g. ``scaled 1 → 3: 14 requests in flight,
    target 5 per replica``."""
    text = (
        f"scaled {before} → {after}: {_number(state.concurrency)} requests in flight, "
        f"target {_number(config.target)} per replica"
    )
    notes = []
    if state.panicking and after > before:
        notes.append(f"panic: the last {_number(config.panic_window)}s need a fast scale-up")
    if state.wanted > config.max_replicas:
        notes.append(f"max replicas {config.max_replicas}")
    elif state.wanted < config.min_replicas:
        notes.append(f"min replicas {config.min_replicas}")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def _number(value: float) -> str:
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else str(rounded)
