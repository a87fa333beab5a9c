"""``python -m waypost.runtimes.kubernetes.fetch``: a replica pod's first init container.

    python -m waypost.runtimes.kubernetes.fetch --shim /workspace/shim --home /workspace/home \\
        [--url URL --sha256 DIGEST --token-file FILE --bundles /workspace/bundles]

It writes the launcher shim (``waypost/prefix`` and ``waypost_launcher.py``, the
same files the local runtime puts on a replica's PYTHONPATH) and links it at
``--shim``; makes the replica's HOME; and, given ``--url``, downloads the version's
bundle from the control plane (``Authorization: Bearer`` the token in
``--token-file``, which the unit's Secret holds), checks its sha256 and unpacks it
into ``--bundles/DIGEST`` with the local runtime's safe unpacker. Transient
failures (connection refused, 5xx) are retried a few times with backoff; a 401,
403 or 404 is not (the token expired or the bundle is gone: the runtime mints a
new token on its next pass and kubelet runs this again).

Standard library only (urllib): it runs in waypost's image, before the app's.
Exit code 0 on success; 1 with one line on stderr saying what failed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from waypost.errors import BuildFailed
from waypost.runtimes.local.bundle import unpack_bundle
from waypost.runtimes.local.shim import ensure_shim

__all__ = ["FetchFailed", "download", "link_shim", "main"]

_CHUNK = 1024 * 1024
_PERMANENT = frozenset({400, 401, 403, 404, 410})


class FetchFailed(Exception):
    pass


def download(
    url: str,
    token: str,
    dest: Path,
    digest: str,
    *,
    timeout: float = 60.0,
    attempts: int = 4,
    backoff: float = 1.0,
) -> Path:
    """The bundle at ``url`` written to ``dest`` (a file), its sha256 checked."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    last = ""
    for attempt in range(max(1, attempts)):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                sha = hashlib.sha256()
                with dest.open("wb") as out:
                    for block in iter(lambda: response.read(_CHUNK), b""):
                        sha.update(block)
                        out.write(block)
            if sha.hexdigest() != digest:
                raise FetchFailed(f"the bundle from {url} does not match its sha256 {digest}")
            return dest
        except urllib.error.HTTPError as exc:
            last = f"{url} answered HTTP {exc.code}"
            if exc.code in _PERMANENT:
                raise FetchFailed(last) from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            last = f"{url}: {getattr(exc, 'reason', exc)}"
    raise FetchFailed(f"could not download the bundle after {attempts} tries: {last}")


def link_shim(link: Path) -> Path:
    """Write the shim next to ``link`` and point ``link`` at it (atomically)."""
    target = ensure_shim(link.parent / ".shims")
    tmp = link.parent / f".{link.name}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)
    return target


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m waypost.runtimes.kubernetes.fetch")
    parser.add_argument("--shim", type=Path, required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--url")
    parser.add_argument("--sha256")
    parser.add_argument("--token-file", type=Path)
    parser.add_argument("--bundles", type=Path)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--attempts", type=int, default=4)
    args = parser.parse_args(argv)
    if args.url and not (args.sha256 and args.token_file and args.bundles):
        parser.error("--url needs --sha256, --token-file and --bundles")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        (args.home / "tmp").mkdir(parents=True, exist_ok=True)
        link_shim(args.shim)
        if args.url:
            token = args.token_file.read_text().strip()
            if not token:
                raise FetchFailed(f"{args.token_file} holds no token")
            args.bundles.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=args.bundles, prefix=".fetch-") as tmp:
                archive = download(
                    args.url,
                    token,
                    Path(tmp) / "bundle.tar.gz",
                    args.sha256,
                    timeout=args.timeout,
                    attempts=args.attempts,
                )
                where = unpack_bundle(archive, args.sha256, args.bundles)
            print(f"waypost: bundle {args.sha256[:12]} unpacked in {where}", flush=True)
    except (FetchFailed, BuildFailed, OSError) as exc:
        print(f"waypost: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
