"""``--runner docker``: the model as a sandboxed container, through the docker SDK.

The container gets what the protocol promises and nothing else: the input folder read-only,
the output folder writable, no network, a non-root user without capabilities or a way to gain
privileges, a read-only root file system with a small scratch ``/tmp``, and limits on memory,
CPUs, processes, wall time and output size. It is removed whatever happens, Ctrl-C and
SIGTERM included, and when the harness is killed outright (SIGKILL, the OOM killer) a
watchdog removes it (this module's ``main``). The image's ENTRYPOINT is the model; the harness
appends ``--input /input --output /output`` (or runs ``command_args`` instead of the entrypoint).

This module is kept free of heavy imports at the top: every container's watchdog runs it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.runner import UnitFailed
from benchmark.runner.names import check_events, missing_event

if TYPE_CHECKING:
    import docker

POLL_S = 0.25
IN_DIR, OUT_DIR = "/input", "/output"
NOBODY = "65534:65534"  # the container's user when the harness itself runs as root
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
LABEL = "bench.output"  # on every container: the host output folder it writes into
GIB = 1 << 30
DONE = b"done"  # what the harness tells a container's watchdog when it removed the container


def _host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * GIB


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Limits:
    """What one container may use. Defaults fit one unit on one machine; every field can be
    overridden with an environment variable (``BENCH_DOCKER_<FIELD>``, sizes in bytes or with
    a k/m/g suffix), which `bench sweep` units and Slurm jobs inherit."""

    memory: int = 0  # bytes of RAM (tmpfs and /dev/shm included); 0: 3/4 of the host's
    cpus: float = 0.0  # 0: every core the harness may use
    pids: int = 4096
    tmp: int = 1 * GIB  # the scratch /tmp (in memory)
    shm: int = 512 << 20
    output: int = 16 * GIB  # the output folder in total (checkpoints included)
    file: int = 8 * GIB  # any one file in it
    files: int = 100_000  # entries in it
    log: int = 64 << 20  # bytes of model.log kept
    time_s: float = 0.0  # a cap on the wall time below the profile's budget; 0: none

    def resolved(self) -> Limits:
        memory = self.memory or int(_host_memory() * 3 / 4)
        return Limits(**{**asdict(self), "memory": memory, "cpus": self.cpus or float(_cores())})

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Limits:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for name, default in asdict(cls()).items():
            text = env.get(f"BENCH_DOCKER_{name.upper()}")
            if text is None or not text.strip():
                continue
            try:
                value = float(text) if isinstance(default, float) else parse_size(text)
            except ValueError:
                raise UnitFailed(
                    f"$BENCH_DOCKER_{name.upper()}={text!r} is not a "
                    f"{'number' if isinstance(default, float) else 'size such as 512m or 8g'}"
                ) from None
            if not math.isfinite(value) or value < 0:  # float() takes nan and inf
                raise UnitFailed(f"$BENCH_DOCKER_{name.upper()}={text!r} must be a finite "
                                 "number, not negative")  # fmt: skip
            values[name] = value
        return cls(**values)


def parse_size(text: str) -> int:
    """``512m``, ``8g``, ``1024`` (bytes) -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not m:
        raise ValueError(text)
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2)]
    return int(float(m.group(1)) * scale)


def human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class ContainerFailed(UnitFailed):
    """A container ended the unit; ``rule`` names the protocol rule it broke (for `bench
    verify`): starts, events, names, size, time, outside or network."""

    def __init__(self, reason: str, rule: str = "starts") -> None:
        super().__init__(reason)
        self.rule = rule


# --- the daemon and images ---------------------------------------------------------------------


def client() -> docker.DockerClient:
    """The docker daemon, or UnitFailed saying why it cannot be reached."""
    try:
        import docker
    except ImportError:
        raise UnitFailed(
            "the docker runner needs the 'docker' package: pip install docker"
        ) from None
    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except Exception as e:
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise UnitFailed(f"cannot reach the docker daemon ({first}); is dockerd running?") from None
    return c


def image_digest(image: Any) -> str:
    """The image's registry digest where it has one, else its content id (``sha256:...``)."""
    repo = image.attrs.get("RepoDigests") or []
    return repo[0].split("@", 1)[1] if repo and "@" in repo[0] else image.id


def get_image(c: docker.DockerClient, name: str) -> Any:
    import docker

    try:
        return c.images.get(name)
    except docker.errors.ImageNotFound:
        raise UnitFailed(
            f"docker image {name!r} is not on this machine; build or load it first"
        ) from None
    except docker.errors.APIError as e:
        raise UnitFailed(f"docker cannot look up image {name!r}: {_api_reason(e)}") from None


def _api_reason(e: Exception) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return (str(text).splitlines() or ["(no message)"])[0][:300]


# --- output checks -----------------------------------------------------------------------------


def scan_output(folder: Path, limits: Limits) -> str | None:
    """Why the output folder breaks the limits (too big, a file too big, too many entries, or
    something that is not a plain file or folder, which the harness would follow), or None."""
    total = count = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            count += 1
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # renamed or removed since the listing (an epoch's .tmp)
                continue
            rel = Path(entry.path).relative_to(folder)
            if stat.S_ISDIR(st.st_mode):
                stack.append(Path(entry.path))
            elif not stat.S_ISREG(st.st_mode):
                kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a special file"
                return f"the model left {kind} in its output folder ({rel}); only files are allowed"
            else:
                total += st.st_size
                if st.st_size > limits.file:
                    return (f"the model wrote {human(st.st_size)} to {rel}, over the limit of "
                            f"{human(limits.file)} for one output file")  # fmt: skip
            if count > limits.files:
                return f"the model wrote more than {limits.files} entries to its output folder"
    if total > limits.output:
        return (f"the model wrote {human(total)} to its output folder, over the limit of "
                f"{human(limits.output)}")  # fmt: skip
    return None


# --- permissions -------------------------------------------------------------------------------


def _walk(folder: Path) -> Iterator[tuple[Path, bool]]:
    yield folder, True
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            yield Path(root, d), True
        for f in files:
            yield Path(root, f), False


def _chmod_tree(folder: Path, dirs: int, files: int) -> None:
    for path, is_dir in _walk(folder):
        with contextlib.suppress(OSError):
            if not path.is_symlink():
                os.chmod(path, dirs if is_dir else files)


def _user() -> str:
    """The container's user: the harness's own uid when it is not root (its files stay its
    own), else nobody."""
    uid = os.getuid()
    return f"{uid}:{os.getgid()}" if uid != 0 else NOBODY


def _give_back(folder: Path) -> None:
    """Give the host user back everything the container wrote, with ordinary modes."""
    uid, gid = os.getuid(), os.getgid()
    for path, is_dir in _walk(folder):
        with contextlib.suppress(OSError):
            if uid == 0:
                os.chown(path, uid, gid, follow_symlinks=False)
            if not path.is_symlink():
                os.chmod(path, 0o755 if is_dir else 0o644)


# --- running -----------------------------------------------------------------------------------


def _weights_mount(input_dir: Path) -> str | None:
    """task.json's absolute ``weights`` folder, which the model reads at the same path."""
    try:
        weights = json.loads((input_dir / "task.json").read_text()).get("weights")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(weights, str) or not weights:
        return None
    path = Path(weights)
    if not path.is_absolute() or not path.is_dir():
        raise UnitFailed(f"task.json: weights {weights!r} is not an absolute path to a folder")
    if path.resolve().as_posix() in ("/", IN_DIR, OUT_DIR) or path.as_posix() in (IN_DIR, OUT_DIR):
        raise UnitFailed(f"task.json: weights {weights!r} cannot be mounted in the container")
    return path.resolve().as_posix()


def _wants_gpu(device: str) -> bool:
    if device == "cuda":
        return True
    if device == "auto":
        from benchmark.runner.gpus import visible_gpus

        return bool(visible_gpus())
    return False


def container_options(
    image: str, command_args: Sequence[str], input_dir: Path, output_dir: Path, device: str,
    limits: Limits,
) -> dict[str, Any]:  # fmt: skip
    """The keyword arguments of ``containers.create`` that make the sandbox."""
    import docker

    volumes = {
        str(input_dir.resolve()): {"bind": IN_DIR, "mode": "ro"},
        str(output_dir.resolve()): {"bind": OUT_DIR, "mode": "rw"},
    }
    weights = _weights_mount(input_dir)
    if weights:
        volumes[weights] = {"bind": weights, "mode": "ro"}
    env = {"HOME": "/tmp", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
           "MPLCONFIGDIR": "/tmp/matplotlib", "NUMBA_CACHE_DIR": "/tmp/numba",
           "XDG_CACHE_HOME": "/tmp/cache"}  # fmt: skip
    env.update({v: os.environ[v] for v in THREAD_VARS if v in os.environ})
    options: dict[str, Any] = {
        "image": image,
        "command": ["--input", IN_DIR, "--output", OUT_DIR],
        "name": f"bench-{uuid.uuid4().hex[:12]}",
        "labels": {LABEL: str(output_dir.resolve())},
        "detach": True,
        "user": _user(),
        "environment": env,
        "volumes": volumes,
        "working_dir": "/tmp",
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,exec,size={limits.tmp},mode=1777"},
        "shm_size": limits.shm,
        "mem_limit": limits.memory,
        "memswap_limit": limits.memory,  # no swap beyond the memory limit
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids,
        "log_config": docker.types.LogConfig(
            type="json-file", config={"max-size": str(limits.log), "max-file": "1"}
        ),
    }
    if command_args:
        options["entrypoint"] = list(command_args)
    if _wants_gpu(device):
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [g.strip() for g in visible.split(",") if g.strip()] if visible else None
        request = (docker.types.DeviceRequest(device_ids=ids, capabilities=[["gpu"]]) if ids
                   else docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]]))  # fmt: skip
        options["device_requests"] = [request]
    return options


class _Logs(threading.Thread):
    """Copies the container's stdout and stderr into the log file, up to the byte cap."""

    def __init__(self, container: Any, path: Path, cap: int) -> None:
        super().__init__(daemon=True)
        self.container, self.path, self.cap = container, path, cap

    def run(self) -> None:
        written = 0
        with self.path.open("ab") as log, contextlib.suppress(Exception):
            for chunk in self.container.logs(stream=True, follow=True):
                if written < self.cap:
                    log.write(chunk[: self.cap - written])
                    log.flush()
                written += len(chunk)
            if written > self.cap:
                log.write(f"\n[bench: log cut at {human(self.cap)}]\n".encode())


def remove_stale(c: docker.DockerClient, output_dir: Path) -> None:
    """Remove containers still writing into this output folder (left by a killed harness), so
    a unit started again never shares its folder with an orphan."""
    for old in c.containers.list(all=True, filters={"label": f"{LABEL}={output_dir.resolve()}"}):
        with contextlib.suppress(Exception):
            old.remove(force=True)


def start_watchdog(name: str) -> subprocess.Popen:
    """A process that removes container ``name`` once this process is gone, however it ends.

    It waits on a pipe that only this process holds open: the kernel closes it when this
    process exits, SIGKILL included, and the watchdog then removes the container unless it was
    told ``DONE``. It runs in a session of its own, so a Ctrl-C at the terminal or a signal to
    the sweep's process group does not stop it before it has done its work.
    """
    argv = [sys.executable, "-m", "benchmark.runner.docker", "--watch", name]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def stop_watchdog(watchdog: subprocess.Popen) -> None:
    """Tell the watchdog the container is removed, and let it go."""
    if watchdog.stdin is not None:
        with contextlib.suppress(OSError):
            watchdog.stdin.write(DONE)
            watchdog.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        watchdog.wait(timeout=5)


def watch(name: str) -> None:
    """The watchdog: block until the harness closes the pipe; unless it said ``DONE``, remove
    the container (a stopped harness can no longer stop it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    said = sys.stdin.buffer.read()
    if said == DONE:
        return
    import docker

    with contextlib.suppress(Exception):
        docker.from_env(timeout=120).api.remove_container(name, force=True)


def _last_line(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "no output"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("[bench:")]
    return lines[-1][:300] if lines else "no output"


def _exit_failure(code: int, oom: bool, log_path: Path, limits: Limits) -> ContainerFailed:
    last = _last_line(log_path)
    if oom:
        return ContainerFailed(
            f"the model ran out of its memory limit of {human(limits.memory)}: {last}", "starts"
        )
    how = f"was killed by signal {code - 128}" if code > 128 else f"exited with status {code}"
    if "Read-only file system" in last:
        return ContainerFailed(
            f"the model {how} writing outside its output folder (read-only): {last}", "outside"
        )
    if re.search(r"Network is unreachable|Temporary failure in name resolution|"
                 r"Name or service not known|No address associated", last):  # fmt: skip
        return ContainerFailed(
            f"the model {how} trying to reach the network, which it has none of: {last}",
            "network",
        )
    return ContainerFailed(f"the model {how}: {last}", "starts")


def run(
    image: str,
    command_args: Sequence[str],
    input_dir: Path,
    output_dir: Path,
    log_path: Path,
    timeout_s: float,
    on_event: Callable[[dict], None] = lambda e: None,
    device: str = "cpu",
    limits: Limits | None = None,
) -> tuple[list[dict], str]:
    """Run the model's container to completion; return its events and the image digest, or
    raise UnitFailed with a one-line reason. The container is removed in every case."""
    import docker
    import requests

    from benchmark.protocol import ProtocolError, read_events

    def model_events() -> list[dict]:
        try:
            return read_events(output_dir)
        except ProtocolError as e:
            raise ContainerFailed(f"the model's {e}", "events") from None

    limits = (limits or Limits.from_env()).resolved()
    if limits.time_s:
        timeout_s = min(timeout_s, limits.time_s)
    c = client()
    digest = image_digest(get_image(c, image))
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(c, output_dir)
    _chmod_tree(input_dir, 0o755, 0o644)
    _chmod_tree(output_dir, 0o777, 0o666)  # the container's user writes here; resumes modify
    log_path.write_bytes(b"")
    options = container_options(image, command_args, input_dir, output_dir, device, limits)
    container = None
    seen = 0
    watchdog = start_watchdog(options["name"])  # before the daemon makes it
    try:
        try:
            container = c.containers.create(**options)
            logs = _Logs(container, log_path, limits.log)
            container.start()
        except docker.errors.APIError as e:
            reason = _api_reason(e)
            if "capabilities: [[gpu]]" in reason or "nvidia" in reason.lower():
                reason += " (this docker daemon cannot give containers GPUs: install the NVIDIA "
                reason += "Container Toolkit, or run with --device cpu)"
            raise ContainerFailed(f"could not start the container of {image}: {reason}") from None
        logs.start()
        deadline = time.monotonic() + timeout_s
        code: int | None = None
        while True:
            try:
                code = int(container.wait(timeout=POLL_S).get("StatusCode", -1))
            except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
                code = None
            bad = scan_output(output_dir, limits)  # first: the events file may be huge
            if bad:
                raise ContainerFailed(bad, "size")
            events = model_events()
            bad = check_events(events)
            if bad:
                raise ContainerFailed(bad, "names")
            for event in events[seen:]:
                on_event(event)
            seen = len(events)
            if code is not None:
                break
            if time.monotonic() > deadline:
                raise ContainerFailed(
                    f"the model ran past its time limit of {timeout_s:.0f} s", "time"
                )
        logs.join(timeout=5)
        container.reload()
        # Nothing outside the mounts can have changed: the root file system is read-only
        # (`docker diff` would say the same, at seconds per call on a CUDA image's layers).
        oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
    finally:  # by name: an interrupt may land after the daemon made it, before we knew
        with contextlib.suppress(Exception):
            c.api.remove_container(options["name"], force=True)
        stop_watchdog(watchdog)
        _give_back(output_dir)
    events = model_events()
    errors = [e for e in events if e["event"] == "error"]
    if errors:
        message = str(errors[-1].get("message", "")).splitlines() or ["(no message)"]
        raise ContainerFailed(f"the model reported an error: {message[0][:300]}")
    if code != 0:
        raise _exit_failure(code, oom, log_path, limits)
    bad = scan_output(output_dir, limits)
    if bad:
        raise ContainerFailed(bad, "size")
    if why := missing_event(events):
        raise ContainerFailed(why, "events")
    return events, digest


# --- `bench run --runner docker` -----------------------------------------------------------------


def run_image(
    image: str, staged: Path, timeout_s: float, on_event: Callable[[dict], None], device: str
) -> tuple[list[dict], dict]:
    """Run a unit's model from ``image`` (a name or an id, resolved by the caller) on the unit's
    staged folder; return its events and run.json's provenance: the image, its digest and the
    command."""
    found = get_image(client(), image)
    entrypoint = (found.attrs.get("Config") or {}).get("Entrypoint") or []
    events, digest = run(image, (), staged / "input", staged / "output", staged / "model.log",
                         timeout_s, on_event, device)  # fmt: skip
    name = found.tags[0] if image.startswith("sha256:") and found.tags else image
    provenance: dict[str, Any] = {
        "model_command": [*entrypoint, "--input", IN_DIR, "--output", OUT_DIR],
        "image": {"name": name, "digest": digest, "runner": "docker"},
    }
    return events, provenance


def main(argv: list[str]) -> None:
    """``python -m benchmark.runner.docker --watch NAME``: a container's watchdog."""
    if len(argv) != 2 or argv[0] != "--watch":
        sys.exit("usage: python -m benchmark.runner.docker --watch CONTAINER_NAME")
    watch(argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
