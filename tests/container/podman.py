"""Podman as the container tests drive it: images built here, and everything made removed by name.

No Docker daemon and no registry are reachable where the tests run (../shared/ENVIRONMENT.md,
"Containers"): Debian's podman builds and runs the images as root, with runc and cgroupfs, and
the base image comes from Debian's packages through `mmdebstrap` instead of a registry. Every
container, volume, network and image a test makes is recorded in a `Made`, which removes them
all, each by its name, whatever happened.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
HERE = Path(__file__).parent
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# crun fails on this machine's v1/hybrid cgroups; without systemd, cgroupfs.
GLOBAL_FLAGS = ["--runtime", "runc", "--cgroup-manager=cgroupfs"]
PREFIX = "chatd-test"
DEBIAN = f"localhost/{PREFIX}-debian"
# The official images compose.yaml names, and the stand-ins tests/container/compose.debian.yaml
# swaps in: (service, image name, build directory).
STAND_INS = [
    ("postgres", f"localhost/{PREFIX}-postgres", HERE / "images" / "postgres"),
    ("redis", f"localhost/{PREFIX}-redis", HERE / "images" / "redis"),
    ("haproxy", f"localhost/{PREFIX}-haproxy", HERE / "images" / "haproxy"),
]
CHATD = f"localhost/{PREFIX}-chatd"


class PodmanError(AssertionError):
    pass


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    """Runs `podman ARGS` with this machine's flags; its stdout, or PodmanError with stderr."""
    done = subprocess.run(
        ["podman", *GLOBAL_FLAGS, *args], capture_output=True, text=True, timeout=timeout
    )
    if check and done.returncode != 0:
        raise PodmanError(f"podman {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return done.stdout


def logs(container: str) -> str:
    """What the container wrote (chatd logs to stderr, which `podman logs` keeps apart)."""
    done = subprocess.run(
        ["podman", *GLOBAL_FLAGS, "logs", container], capture_output=True, text=True, timeout=60
    )
    return done.stdout + done.stderr


def exists(kind: str, name: str) -> bool:
    """Whether the image, container, volume or network `name` exists."""
    command = ["image", "exists"] if kind == "image" else [kind, "exists"]
    return subprocess.run(["podman", *GLOBAL_FLAGS, *command, name]).returncode == 0


def inspect(name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(podman("inspect", name))
    return found[0]


def wait_until(what: str, ready: Callable[[], bool], timeout: float, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(every)


def healthy(container: str) -> bool:
    """Runs the image's HEALTHCHECK now (no systemd here to run it on its interval)."""
    done = subprocess.run(
        ["podman", *GLOBAL_FLAGS, "healthcheck", "run", container], capture_output=True, text=True
    )
    return done.returncode == 0


@dataclass
class Made:
    """What a test made, removed in reverse order, each by name, even after a failure."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: str, name: str) -> str:
        self.items.append((kind, name))
        return name

    def remove_all(self) -> list[str]:
        """Removes containers, then volumes, networks and images; what could not be removed."""
        problems = self.remove()
        self.items.clear()
        return problems

    def remove(self) -> list[str]:
        """remove_all, keeping the list: also clears what a run killed before its cleanup left."""
        problems = []
        order = ["container", "volume", "network", "image"]
        for kind, name in sorted(reversed(self.items), key=lambda item: order.index(item[0])):
            if not exists(kind, name):
                continue
            command = {
                "container": ["rm", "--force", "--volumes", "--time", "2", name],
                "volume": ["volume", "rm", "--force", name],
                "network": ["network", "rm", "--force", name],
                "image": ["rmi", "--force", name],
            }[kind]
            try:
                podman(*command)
            except (PodmanError, subprocess.TimeoutExpired) as error:
                problems.append(str(error))
        return problems


def build(tag: str, context: Path, *, base: str, dockerfile: Path | None = None) -> None:
    """`podman build` reaching the package registries (host network, the machine's CA bundle);
    Docker's format, which keeps HEALTHCHECK (OCI's drops it); no layer cache, which would
    leave an unnamed image for each step and stage."""
    args = ["build", "--quiet", "--format", "docker", "--layers=false", "--network", "host"]
    args += ["--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro", "--build-arg", f"BASE={base}"]
    if dockerfile is not None:
        args += ["--file", str(dockerfile)]
    podman(*args, "--tag", tag, str(context), timeout=400)


def build_debian_base(made: Made, workdir: Path) -> None:
    """Debian bookworm with Python 3.11 (the project's Python), from Debian's packages; reused
    when it already exists. It carries the CA bundle's path for uv and pip inside builds."""
    if exists("image", DEBIAN):
        return
    assert shutil.which("mmdebstrap"), "mmdebstrap is needed (.ci/run installs it)"
    tarball = workdir / "debian.tar"
    subprocess.run(
        [
            *("mmdebstrap", "--quiet", "--variant=minbase"),
            *("--include=python3,python3-venv,ca-certificates", "bookworm", str(tarball)),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    made.add("image", DEBIAN)
    podman(
        "import",
        "--change",
        f"ENV SSL_CERT_FILE={CA_BUNDLE}",
        "--change",
        f"ENV PIP_CERT={CA_BUNDLE}",
        str(tarball),
        DEBIAN,
        timeout=120,
    )
    tarball.unlink()
