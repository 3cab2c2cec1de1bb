"""Launch a training script on several processes with ``torchrun``, and never hang doing it.

``torchrun`` (``python -m torch.distributed.run``, PyTorch's elastic launcher) starts
``--nproc_per_node`` copies of a script with ``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` set; the
script then calls ``torch.distributed.init_process_group`` (gloo on CPUs, NCCL on GPUs) or lets
Hugging Face Accelerate do it. A worker that dies before the rendezvous leaves the others
waiting, so :func:`torchrun` puts a wall-clock timeout on the whole launch and kills the process
group it started when the timeout passes, so a hung rendezvous fails a test instead of hanging CI.
``--standalone`` picks a free port on localhost, so two launches on one machine do not collide.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class LaunchFailed(RuntimeError):
    """A torchrun launch exited with an error or ran past its timeout."""


@dataclass
class Launch:
    """What a finished launch printed, and how long it took in all (start-up included)."""

    stdout: str
    stderr: str
    seconds: float


def torchrun_command(script: str | Path, nproc: int = 2, args: Sequence[str] = ()) -> list[str]:
    """The command line: ``python -m torch.distributed.run --standalone --nproc_per_node N script args``."""
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}.")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            str(script), *map(str, args)]


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; empty elsewhere). torchrun may start its workers in
    sessions of their own, so killing its process group alone can leave them running."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, its process group and every descendant (collected before anything dies)."""
    for target in [*_descendants(pid), pid]:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(text: str, n: int = 3000) -> str:
    return text[-n:] if len(text) > n else text


def torchrun(script: str | Path, nproc: int = 2, args: Sequence[str] = (), timeout: float = 120,
             threads: int = 1, env: dict[str, str] | None = None) -> Launch:
    """Run ``script`` on ``nproc`` processes of ``threads`` torch threads each; fail after ``timeout`` s.

    Args:
        env: extra environment variables for the workers (added to this process's).
    """
    if not Path(script).exists():
        raise FileNotFoundError(f"{script} does not exist: write it first (e.g. with %%writefile).")
    full_env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), **(env or {})}
    t0 = time.perf_counter()
    # a session of its own, so that a timeout can kill torchrun *and* every worker it started
    proc = subprocess.Popen(torchrun_command(script, nproc, args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:  # a survivor still holds the pipes: give up on its output
            out, err = "", "(no output: a worker could not be stopped)"
        raise LaunchFailed(f"torchrun {script} ran past its {timeout:.0f} s timeout and was killed "
                           f"(a hung rendezvous or a stuck worker). Its last output:\n{_tail(out + err)}")
    if proc.returncode != 0:
        raise LaunchFailed(f"torchrun {script} exited with code {proc.returncode}. "
                           f"Its last output:\n{_tail(out + err)}")
    return Launch(out, err, time.perf_counter() - t0)
