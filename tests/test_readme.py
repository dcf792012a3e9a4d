"""Every code block of the READMEs runs as written (README.md, data/README.md).

* ``python`` blocks run top to bottom in one Python session (as a reader pastes them), in a
  scratch folder holding a copy of ``data/``, on the embedded sandbox (no ``DIALPAD_*``
  variables); then a few checks of what the README claims run in the same session.
* ``bash`` blocks run with ``bash -euo pipefail`` in that folder (``.venv`` is linked in).
* A block preceded by ``<!-- not run by tests/test_readme.py: REASON -->`` is not run (servers
  that run until Ctrl-C, ``make`` targets, a million calls); it must say why, and every
  ``dialpad-nb`` command line in it must still parse with the real argument parser.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dialpad_nb.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "data/README.md")
NOT_RUN = re.compile(r"^<!-- not run by tests/test_readme\.py: (?P<why>.*\S) -->$")
FENCE = re.compile(r"^```(?P<lang>[a-z]*)\s*$")
OFFLINE = {k: v for k, v in os.environ.items() if not k.startswith("DIALPAD_")}


@dataclass(frozen=True)
class Block:
    doc: str
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    not_run: str | None  # why, when it is not run

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(doc: str) -> list[Block]:
    lines = (REPO / doc).read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        mark = NOT_RUN.match(before.strip())
        out.append(
            Block(doc, i + 1, fence["lang"], "\n".join(lines[i + 1 : end]) + "\n", mark and mark["why"])
        )
        i = end + 1
    return out


ALL = [b for doc in DOCS for b in blocks(doc)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder as a reader has it: ``data/`` (a copy: a block may rewrite it), ``.venv``."""
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "data", root / "data")
    (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)  # the venv under test
    return root


def test_every_block_is_python_or_bash_and_says_why_when_it_is_not_run():
    assert len(ALL) >= 10
    for block in ALL:  # code, or an unlabelled listing (the layout tree) that is not code
        assert block.lang in ("python", "bash", ""), f"{block.where}: a ```{block.lang} block"
    # what is left out is the exception: servers, make targets, a million calls
    assert sum(b.not_run is None for b in ALL) > sum(b.not_run is not None for b in ALL)


CHECKS = """
# what the README says these give
assert len(calls) == 24_000 and len(rejects) == 14, (len(calls), len(rejects))
assert str(result.summary).startswith(
    "routing_candidate vs routing_current: 3,115 of 24,000 calls change target (13.0%)"
), result.summary
"""


@pytest.mark.timeout(300)
def test_python_blocks_run_as_written_in_one_session(workdir: Path, tmp_path: Path):
    runnable = [b for b in ALL if b.lang == "python" and b.not_run is None and b.doc == "README.md"]
    runnable += [b for b in ALL if b.lang == "python" and b.not_run is None and b.doc != "README.md"]
    script = [{"where": b.where, "text": b.text} for b in runnable] + [{"where": "checks", "text": CHECKS}]
    (tmp_path / "blocks.json").write_text(json.dumps(script))
    runner = (
        "import json, sys, traceback\n"
        "ns = {'__name__': '__main__'}\n"
        "for b in json.load(open(sys.argv[1])):\n"
        "    try:\n"
        "        exec(compile(b['text'], b['where'], 'exec'), ns)\n"
        "    except BaseException:\n"
        "        traceback.print_exc()\n"
        "        sys.exit(f'the block at {b[\"where\"]} failed')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", runner, str(tmp_path / "blocks.json")],
        cwd=workdir,
        env={**OFFLINE, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    # reading without the secret is said loudly, never silently: not here, the README passes it
    assert "NoSecretWarning" not in done.stderr


@pytest.mark.timeout(300)
def test_bash_blocks_run_as_written(workdir: Path):
    runnable = [b for b in ALL if b.lang == "bash" and b.not_run is None]
    assert runnable, "no bash block is run"
    for block in runnable:
        done = _run_bash(block.text, workdir, timeout_s=240)
        assert done.returncode == 0, (
            f"{block.where}:\n{block.text}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    # what they claim: the sample is regenerated byte for byte, replay wrote the changed calls
    for name in ("calls_2026-10.jsonl.gz", "crm_contacts.csv"):
        assert (workdir / "data" / name).read_bytes() == (REPO / "data" / name).read_bytes(), name
    assert len((workdir / "changes.csv").read_text().splitlines()) == 3_115 + 1


def _run_bash(text: str, cwd: Path, *, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``bash -euo pipefail -c text`` in its own process group; on a timeout the whole group is
    killed (a server a block started must not outlive the test, as a plain kill of bash left it)."""
    with subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", text],
        cwd=cwd, env=OFFLINE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    ) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            err += f"\n(killed after {timeout_s:g} s, with every process it started)"
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _command_lines(text: str) -> list[list[str]]:
    """``dialpad-nb`` invocations in a bash block: continuations joined, comments and leading
    ``VAR=value`` assignments dropped; the arguments after the program name."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)
        if words and words[0].endswith("/dialpad-nb"):
            out.append(words[1:])
    return out


def test_command_lines_that_are_not_run_still_parse():
    parser = build_parser()
    checked = 0
    for block in ALL:
        if block.lang != "bash" or block.not_run is None:
            continue
        for argv in _command_lines(block.text):
            try:
                parser.parse_args(argv)
            except SystemExit:  # pragma: no cover - the failure message is the point
                pytest.fail(f"{block.where}: `dialpad-nb {shlex.join(argv)}` does not parse")
            checked += 1
    assert checked >= 7  # sandbox, endpoint, four routers commands, generate-calls (data/README.md)
