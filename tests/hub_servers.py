"""Start and stop the two local hub servers the hub tests use (127.0.0.1 only, by pid).

- reads: olah (a real self-hosted HF mirror) in offline mode, serving git repos from
  ``<root>/mirrors/datasets/<org>/<name>``;
- writes: tests/hub_double.py, committing into the same repos.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start in {timeout} s")


@dataclass
class Hub:
    read_url: str
    write_url: str
    mirrors: Path
    root: Path


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def running_hub(root: Path, double_args: tuple[str, ...] = ()):
    """Start olah + the write double; yield a Hub; stop both."""
    mirrors = root / "mirrors"
    (mirrors / "datasets").mkdir(parents=True, exist_ok=True)
    olah_port, write_port = free_port(), free_port()
    (root / "olah.toml").write_text(
        f'[basic]\nhost = "127.0.0.1"\nport = {olah_port}\nrepos-path = "{root / "olah-repos"}"\n'
        f'mirrors-path = ["{mirrors}"]\nmetadata-cache-ttl = 0\n[accessibility]\noffline = true\n'
    )
    logs = open(root / "servers.log", "ab")
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from olah.server import cli; cli()",
                    "-c",
                    str(root / "olah.toml"),
                    "--log-path",
                    str(root / "olah-logs"),
                ],
                cwd=root,
                stdout=logs,
                stderr=logs,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "hub_double.py"),
                    "--port",
                    str(write_port),
                    "--mirrors",
                    str(mirrors),
                    *double_args,
                ],
                stdout=logs,
                stderr=logs,
            )
        )
        wait_port(olah_port, procs[0])
        wait_port(write_port, procs[1])
        yield Hub(f"http://127.0.0.1:{olah_port}", f"http://127.0.0.1:{write_port}", mirrors, root)
    finally:
        for p in procs:
            _stop(p)
        logs.close()


SECRET = "hf_TESTSECRET"
REJECTED = "hf_TESTSECRETREJECTED"  # the write double answers 401 to this one


def run_cli(args, tmp, endpoint, token="hf_validtoken", check=True, extra_env=None):
    """``python -m synthgen ARGS`` in a subprocess with its own HF_HOME and HF_ENDPOINT (set before the HF
    libraries are imported, as a user's shell would)."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(
        HF_HOME=str(tmp / "hf_home"),
        HF_HUB_DISABLE_XET="1",
        HF_ENDPOINT=endpoint,
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        **({"HF_TOKEN": token} if token else {}),
        **(extra_env or {}),
    )
    res = subprocess.run(
        [sys.executable, "-m", "synthgen", *args], capture_output=True, text=True, env=env, cwd=tmp, timeout=300
    )
    if check:
        assert res.returncode == 0, res.stdout + res.stderr
    return res
