"""What the scale checks share: one generated warehouse of several days, built and its jobs
run by stickerlake's local engine."""
import os
import shutil
import subprocess

FROM, TO = "2026-11-20", "2026-11-22"


def local_warehouse(stickerlake, work, events, seed):
    """A fresh `work` folder with 3 days of logs (2 servers) tailed into `work/warehouse` and
    every job run over them; returns the warehouse's path."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    warehouse = f"{work}/warehouse"
    for args in (
        ["generate", "--out", f"{work}/logs", "--events", str(events), "--days", "3",
         "--start", FROM, "--servers", "2", "--seed", str(seed)],
        ["--warehouse", warehouse, "tailer", "--source", f"{work}/logs/server-*.jsonl"],
        ["--warehouse", warehouse, "run", "all", "--from", FROM, "--to", TO],
    ):
        subprocess.run([stickerlake, *args], check=True, capture_output=True, text=True)
    return warehouse
