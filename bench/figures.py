#!/usr/bin/env python3
"""docs/performance.md's table of today's figures, written by `make bench`.

Each bench script calls `record(...)` once per figure; with STICKERLAKE_FIGURES set (make
bench sets it) the row is appended to that JSON-lines file, else nothing happens. Then

    python3 bench/figures.py FIGURES.jsonl docs/performance.md

replaces what lies between the page's `<!-- figures -->` and `<!-- /figures -->` with one
table: every row from the same run, the same build and the same machine, said once above it.
"""
import datetime
import json
import os
import platform
import subprocess
import sys


def record(what, ours, peer="", ratio="", target="", command=""):
    """One row: what was measured, our figure, the peer's, their ratio (ours/peer, below 1 is
    faster), the target it is held to, and the command that measured it."""
    path = os.environ.get("STICKERLAKE_FIGURES")
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a") as out:
        out.write(json.dumps({"what": what, "ours": ours, "peer": peer, "ratio": ratio,
                              "target": target, "command": command}) + "\n")


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    return f"{model or platform.processor()}, {os.cpu_count()} cores, {memory:.0f} GiB"


def table(rows):
    def cell(text):
        return str(text).replace("|", "\\|")
    lines = ["| what | stickerlake | peer | ratio | target | command |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cell(r[k]) for k in ("what", "ours", "peer", "ratio", "target")) +
              f" | `{cell(r['command'])}` |" for r in rows]
    return "\n".join(lines)


def main():
    figures, page = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(figures) if line.strip()]
    build = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    today = datetime.date.today().isoformat()
    block = (f"<!-- figures -->\n`make bench` on {today}: release build of {build}{' (with local changes)' if dirty else ''}, "
             f"{machine()}. Every row is from that one run; ratios are stickerlake / peer (below 1 is "
             f"faster).\n\n{table(rows)}\n<!-- /figures -->")
    text = open(page).read()
    start, end = text.index("<!-- figures -->"), text.index("<!-- /figures -->") + len("<!-- /figures -->")
    open(page, "w").write(text[:start] + block + text[end:])
    print(f"{page}: {len(rows)} figures")


if __name__ == "__main__":
    main()
