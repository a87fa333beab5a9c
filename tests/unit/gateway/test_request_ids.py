"""The gateway's request ids: random version-4 UUIDs, from buffered randomness."""

from __future__ import annotations

import os
import uuid

from waypost.gateway.server import _RequestIds


def test_ids_are_version_4_uuids_in_32_hex_digits() -> None:
    ids = _RequestIds()
    for _ in range(600):  # past two refills of the buffer
        text = ids()
        assert len(text) == 32
        parsed = uuid.UUID(hex=text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_ids_do_not_repeat_across_refills() -> None:
    ids = _RequestIds()
    drawn = [ids() for _ in range(2000)]
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    ids = _RequestIds()
    ids()  # the buffer holds 255 more ids the child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent, then out without cleanup
        os.close(read)
        os.write(write, "".join(ids() for _ in range(4)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = "".join(ids() for _ in range(4))
    assert len(child) == len(parent) == 128
    assert child != parent
