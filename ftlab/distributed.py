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
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise LaunchFailed(f"torchrun {script} ran past its {timeout:.0f} s timeout and was killed "
                           f"(a hung rendezvous or a stuck worker). Its last output:\n{_tail(out + err)}")
    if proc.returncode != 0:
        raise LaunchFailed(f"torchrun {script} exited with code {proc.returncode}. "
                           f"Its last output:\n{_tail(out + err)}")
    return Launch(out, err, time.perf_counter() - t0)
