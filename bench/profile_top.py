"""Sample a running stack process with py-spy and print where its CPU goes: the functions
with the most samples on top of the stack (self) and anywhere on it (inclusive), idle
threads left out. A short text summary to keep in ``bench/results/``, not the raw profile.

    python bench/profile_top.py --pid 1234 --duration 20 --out bench/results/profile-api.txt

Run it while a bench puts load on the stack (``gateway_bench.py throughput``); find the
pids with ``ps -ef`` (the API is ``llm-gateway api``, a worker ``celery ... -Q llm.openai``).
py-spy needs ptrace: as root it works; elsewhere ``--nonblocking`` or CAP_SYS_PTRACE.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, help=__doc__)


def summarize(raw: str, top: int) -> str:
    """The top ``top`` frames by self and by inclusive samples of py-spy's raw (collapsed)
    output: one stack per line, frames separated by ``;``, then a space and the count."""
    self_count: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")[1:]]  # the first is the thread
        if not frames:
            continue
        total += count
        self_count[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples (idle threads excluded)", "", "self %  function"]
    lines += [f"{100 * n / total:5.1f}  {f}" for f, n in self_count.most_common(top)]
    lines += ["", "incl %  function"]
    lines += [f"{100 * n / total:5.1f}  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def _short(frame: str) -> str:
    """``function (path/to/file.py:line)`` as ``function (package/file.py)``: the line
    number would split one function's samples into many rows."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif "python3.11" in parts:
        parts = ("stdlib", *parts[parts.index("python3.11") + 1 :])
    else:
        parts = parts[-2:]
    return f"{name} ({'/'.join(parts)})"


@app.command()
def main(
    pid: Annotated[int, typer.Option(help="process to sample")],
    duration: Annotated[int, typer.Option(help="seconds to sample")] = 20,
    out: Annotated[Path | None, typer.Option(help="write the summary here too")] = None,
    top: Annotated[int, typer.Option(help="rows per table")] = 60,
    rate: Annotated[int, typer.Option(help="samples per second")] = 100,
    gil: Annotated[
        bool, typer.Option(help="only the thread holding the GIL: where Python's CPU goes")
    ] = True,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw_file = Path(tmp) / "raw.txt"
        command = [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(duration),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",  # do not pause the process at each sample: less distortion
            "--output",
            str(raw_file),
            *(["--gil"] if gil else []),
        ]
        subprocess.run(command, check=True, capture_output=True)
        text = summarize(raw_file.read_text(), top)
    print(text)
    if out is not None:
        out.write_text(text)


if __name__ == "__main__":
    app()
