"""Benchmark helpers: the app (gunicorn), nginx and wrk, as processes stopped by PID.

Each server gets a free loopback port, a readiness deadline, and is stopped with
SIGTERM, then SIGKILL after a deadline; wrk's output is parsed into requests/s,
latency percentiles and the number of requests completed. nginx can also mirror every
request to a second upstream. ``rss_kib(pid)`` sums the resident memory and
``cpu_seconds(pid)`` the CPU time (user and system) of a process and all its
descendants (nginx's master and workers, the gateway's supervisor and workers).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Served",
    "WrkResult",
    "cpu_seconds",
    "descendants",
    "require",
    "rss_kib",
    "start_app",
    "start_nginx",
    "wait_port",
    "wrk",
]

INSTALL = {
    "wrk": "apt-get install wrk (Debian package 'wrk')",
    "nginx": "apt-get install nginx-light (or nginx)",
}


def require(tool: str, path: str) -> str:
    found = shutil.which(path) or (path if Path(path).exists() else None)
    if found is None:
        sys.exit(f"{tool} is not installed ({path}); install it with: {INSTALL[tool]}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_app(workers: int, log_dir: Path, threads: int = 8) -> Served:
    """gunicorn (gthread workers, so keep-alive works) serving ``bench.hello_wsgi:app``."""
    port = free_port()
    argv = [
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
        "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--keep-alive", "5",
        "--log-level", "warning", "bench.hello_wsgi:app",
    ]  # fmt: skip
    with (log_dir / "gunicorn.log").open("ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
    served = Served(process, port)
    wait_port(port, process)
    return served


NGINX_CONF = """
worker_processes {workers};
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    {log}
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream app {{
        server {app};
        keepalive 64;
        keepalive_timeout 4s;
    }}{mirror_upstream}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location {location} {{{mirror}
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";{forwarding}
        }}{mirror_location}
    }}
}}
"""

# "The same job" as the gateway's, the way ingress-nginx configures nginx: the route
# (org/project/deployment/version/endpoint) taken from the path by a regex location,
# what the gateway tells the replica (X-VH-Prefix, X-Forwarded-For/-Proto/-Host,
# X-Request-ID) set the same way, the request id returned to the client, and a JSON
# access-log line per request, buffered as the gateway's request log is.
NGINX_ROUTE = "~ ^/(?<route>[^/]+/[^/]+/[^/]+/[^/]+/[^/]+)(?:/|$)"
NGINX_FORWARDING = """
            proxy_set_header X-VH-Prefix $route;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Request-ID $request_id;
            add_header X-Request-ID $request_id always;"""
NGINX_LOG = """log_format waypost escape=json '{{"kind":"request","time":"$time_iso8601",'
        '"request_id":"$request_id","route":"$route","method":"$request_method",'
        '"path":"$uri","status":$status,"latency_s":$request_time,'
        '"bytes_in":$request_length,"bytes_out":$bytes_sent,'
        '"replica":"$upstream_addr"}}';
    access_log {dir}/access.log waypost buffer=64k flush=1s;"""

# ngx_http_mirror_module (built in unless nginx was configured --without-http_mirror_module):
# a copy of every request goes to a second keep-alive upstream; its answer is discarded.
NGINX_MIRROR_UPSTREAM = """
    upstream mirror_upstream {{
        server {mirror};
        keepalive 64;
        keepalive_timeout 4s;
    }}"""
NGINX_MIRROR = """
            mirror /mirror;"""
NGINX_MIRROR_LOCATION = """
        location = /mirror {
            internal;
            proxy_pass http://mirror_upstream$request_uri;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }"""


def start_nginx(
    nginx: str,
    app: str,
    workers: int,
    work_dir: Path,
    mirror: str | None = None,
    *,
    same_job: bool = False,
) -> Served:
    """nginx as a keep-alive reverse proxy in front of ``app``, config in ``work_dir``;
    with ``mirror`` (``host:port``), a copy of every request goes there too; with
    ``same_job``, it does what the gateway does besides proxying (``NGINX_FORWARDING``)."""
    port = free_port()
    work_dir.mkdir(parents=True, exist_ok=True)
    conf = work_dir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            workers=workers,
            dir=work_dir,
            app=app,
            port=port,
            log=NGINX_LOG.format(dir=work_dir) if same_job else "access_log off;",
            location=NGINX_ROUTE if same_job else "/",
            forwarding=NGINX_FORWARDING if same_job else "",
            mirror_upstream=NGINX_MIRROR_UPSTREAM.format(mirror=mirror) if mirror else "",
            mirror=NGINX_MIRROR if mirror else "",
            mirror_location=NGINX_MIRROR_LOCATION if mirror else "",
        )
    )
    process = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(work_dir), "-e", str(work_dir / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=(work_dir / "stderr.log").open("ab"),
        start_new_session=True,
    )
    served = Served(process, port)
    wait_port(port, process)
    return served


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int  # completed in the run


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"50%\s+(\S+)", output)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"99%\s+(\S+)", output)[1])  # type: ignore[index]
    errors = 0
    for found in re.finditer(r"(connect|read|write|timeout) (\d+)", output):
        errors += int(found[2])
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx[1])
    requests = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    return WrkResult(rps, p50, p99, errors, requests)


def wrk(
    wrk_path: str, url: str, *, connections: int, seconds: float, threads: int = 1
) -> WrkResult:
    argv = [
        wrk_path, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", url,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_wrk(done.stdout)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in KiB."""
    total = 0
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time, user and system, of ``pid`` and its descendants so far, in seconds.

    Each process counts its own time (utime + stime, all its threads) and that of its
    children it has reaped (cutime + cstime), so a worker that exits between two
    readings is not lost from the difference.
    """
    ticks = 0
    for p in [pid, *descendants(pid)]:
        fields = _stat(p)
        if fields is not None:  # utime, stime, cutime, cstime: fields 14-17 of proc_pid_stat(5)
            ticks += sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children, ...), by parent PID."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found.extend(below)
        todo.extend(below)
    return found


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()
