"""ftlab.distributed.torchrun: a real 2-process gloo launch, a failing one, and one that hangs."""
import sys
import time

import pytest

from ftlab.distributed import LaunchFailed, torchrun, torchrun_command

ALL_REDUCE = """
import torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(t)
print(f"rank {dist.get_rank()} of {dist.get_world_size()}: sum {t.item():g}, threads {torch.get_num_threads()}")
dist.destroy_process_group()
"""


def test_command_line():
    cmd = torchrun_command("train.py", 2, ["--epochs", 3])
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in cmd and "--nproc_per_node=2" in cmd and cmd[-3:] == ["train.py", "--epochs", "3"]
    with pytest.raises(ValueError, match="nproc"):
        torchrun_command("train.py", 0)


def test_two_gloo_processes_all_reduce(tmp_path):
    script = tmp_path / "allreduce.py"
    script.write_text(ALL_REDUCE)
    run = torchrun(script, nproc=2, timeout=90, threads=1)
    assert "rank 0 of 2: sum 3, threads 1" in run.stdout and "rank 1 of 2: sum 3, threads 1" in run.stdout
    assert run.seconds > 0


def test_failing_worker_raises_with_its_output(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys\nprint('about to fail')\nsys.exit(3)\n")
    with pytest.raises(LaunchFailed, match="exited with code"):
        torchrun(script, nproc=1, timeout=60)


def test_hung_launch_is_killed_at_the_timeout(tmp_path):
    script = tmp_path / "hang.py"
    script.write_text("import time\ntime.sleep(120)\n")
    t0 = time.perf_counter()
    with pytest.raises(LaunchFailed, match="timeout"):
        torchrun(script, nproc=1, timeout=4)
    assert time.perf_counter() - t0 < 30


def test_missing_script(tmp_path):
    with pytest.raises(FileNotFoundError, match="writefile"):
        torchrun(tmp_path / "nope.py")
