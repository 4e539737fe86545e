"""The documentation: every example in docs/ runs, and the Sphinx site builds without warnings.

Examples
    Every doctest block (``>>>`` paragraphs) of every page in ``docs/*.rst`` is run, page by page
    in file order with one namespace per page, against the simulated beamline of
    :mod:`epics.sim` (training IOC ``id01``/``id02`` and the record server's ``sim:m1`` ...),
    started here on ports of the session's pool, so the PV names in the pages are the ones a reader
    gets from ``python -m epics.sim``. Snippets that cannot run here are ``.. code-block::``
    directives (or ``::`` literal blocks) in the pages, which this module leaves alone.

    Option flags for all examples: ELLIPSIS and NORMALIZE_WHITESPACE, plus ``IGNORE_OUTPUT``
    (registered here, as pytest-doctestplus names it) for the few examples whose printed value is
    live data (a random walk, a timestamp): the code runs and must not raise, its output is shown to
    the reader as an illustration. Sphinx hides the ``# doctest:`` comments in the rendered pages.

The tutorial of the testing kit (docs/testing.rst)
    Its ``.. code-block::`` captioned ``test_*.py`` and ``pyproject.toml`` are written to a
    temporary project and run with pytest in a subprocess, exactly as a user would run them.

The build
    ``sphinx-build -W -b html docs <tmp>`` (warnings are errors), when Sphinx is importable.

Every wait is bounded (subprocess timeouts; the pytest-timeout limit covers a hung example).
"""
from __future__ import annotations

import doctest
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.rst"))

#: The simulated beamline the examples run against (small and quick: the pages use id01 and id02).
SIM_PREFIXES = 2
SIM_RATE = 5.0
#: Pages that must contain runnable examples (a guard against the extractor silently finding none).
PAGES_WITH_EXAMPLES = ("overview", "procedural", "pv", "ca", "dbr", "threads", "simulator",
                       "migrating")
#: Bounds on the subprocesses of this module (seconds; generous: the machine is small and shared).
SPHINX_TIMEOUT = 600.0
TUTORIAL_TIMEOUT = 300.0

IGNORE_OUTPUT = doctest.register_optionflag("IGNORE_OUTPUT")
OPTION_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


# ---- finding the examples in reStructuredText ---------------------------------------------------

class Block(NamedTuple):
    """One doctest block of a page: its text (dedented) and the line it starts on (0-based)."""

    text: str
    lineno: int


#: Directives whose indented body is code or other text that is not parsed as reStructuredText.
LITERAL_DIRECTIVES = {"code-block", "code", "sourcecode", "literalinclude", "parsed-literal",
                      "highlight", "raw", "math", "testcode", "testoutput", "testsetup",
                      "testcleanup", "doctest", "graphviz", "csv-table"}
_DIRECTIVE = re.compile(r"^\.\.\s+([\w:-]+)::")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def doctest_blocks(text: str) -> List[Block]:
    """Return the doctest blocks of a reStructuredText text, as docutils would find them.

    A doctest block is a paragraph whose first line starts with ``>>>``; it ends at the first
    blank line. Lines inside literal blocks (after a paragraph ending in ``::``), inside code
    directives (:data:`LITERAL_DIRECTIVES`) and inside comments are skipped; the bodies of other
    directives (notes, warnings...) and list items are searched.
    """
    lines = text.splitlines()
    blocks: List[Block] = []
    skip_deeper_than: Optional[int] = None   # inside a literal body: lines indented more are text
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if skip_deeper_than is not None:
            if not stripped or _indent(line) > skip_deeper_than:
                index += 1
                continue
            skip_deeper_than = None
        if not stripped:
            index += 1
            continue
        if stripped.startswith(">>>"):
            start, indent, body = index, _indent(line), []
            while index < len(lines) and lines[index].strip():
                body.append(lines[index][indent:] if _indent(lines[index]) >= indent
                            else lines[index].lstrip())
                index += 1
            blocks.append(Block("\n".join(body) + "\n", start))
            continue
        if stripped.startswith(".."):
            match = _DIRECTIVE.match(stripped)
            if match is None or match.group(1) in LITERAL_DIRECTIVES:
                skip_deeper_than = _indent(line)   # a comment, or a code directive
            index += 1
            continue
        if stripped.endswith("::"):
            skip_deeper_than = _indent(line)       # "Example::" introduces a literal block
        index += 1
    return blocks


def test_extractor_finds_doctests_and_skips_literal_text() -> None:
    text = "\n".join([
        "Title", "=====", "",
        ">>> 1 + 1", "2", "",
        ".. code-block:: python", "", "    >>> not_run()", "    boom", "",
        "A literal block::", "", "    >>> not_run()", "",
        ".. a comment", "   >>> not_run()", "",
        ".. note::", "", "   >>> x = 3", "   >>> x", "   3", "",
        "* a list item", "", "  >>> x + 1", "  4", "",
    ])
    blocks = doctest_blocks(text)
    assert [b.text for b in blocks] == [">>> 1 + 1\n2\n", ">>> x = 3\n>>> x\n3\n",
                                        ">>> x + 1\n4\n"]
    assert [b.lineno for b in blocks] == [3, 20, 26]


# ---- running them --------------------------------------------------------------------------------

class _Checker(doctest.OutputChecker):
    """The standard checker, except that examples flagged IGNORE_OUTPUT match any output."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if optionflags & IGNORE_OUTPUT:
            return True
        return super().check_output(want, got, optionflags)


def run_page(page: Path, globs: Dict[str, object]) -> Tuple[int, int, str]:
    """Run every doctest block of ``page`` in order in ``globs``; return (failed, tried, report)."""
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(checker=_Checker(), optionflags=OPTION_FLAGS)
    report: List[str] = []
    failed = tried = 0
    for number, block in enumerate(doctest_blocks(page.read_text(encoding="utf-8")), 1):
        test = parser.get_doctest(block.text, globs, f"{page.name}[{number}]", str(page),
                                  block.lineno)
        test.globs = globs        # one namespace for the whole page (get_doctest copied it)
        result = runner.run(test, out=report.append, clear_globs=False)
        failed += result.failed
        tried += result.attempted
    return failed, tried, "".join(report)


@pytest.fixture(scope="module")
def beamline(epics_port_pool):
    """The simulated beamline on two ports of the session's pool (the client environment lists
    every pool port, so this process's CA context finds it); stopped at the end of the module."""
    from epics.sim import Simulator
    from epics.sim.launcher import records_available

    records = records_available()
    taken = [epics_port_pool.take() for _ in range(2 if records else 1)]
    sim = Simulator(prefixes=SIM_PREFIXES, rate=SIM_RATE, port=taken[0],
                    records_port=taken[1] if records else None, records=records,
                    repeater_port=epics_port_pool.repeater_port)
    try:
        with sim:
            yield sim
    finally:
        release_simulator_pvs()
        for port in taken:
            epics_port_pool.release(port)


def release_simulator_pvs() -> None:
    """Disconnect the get_pv cache's PVs of the simulator's names once it is gone.

    A channel whose server went away is searched ever less often by libca (up to
    EPICS_CA_MAX_SEARCH_PERIOD, 5 minutes); a later module that serves the same names from its
    own training IOC must start with fresh channels, not with ones backed off for minutes.
    """
    import epics.pv
    from epics import ca
    prefixes = ("sim:",) + tuple(f"id{i:02d}:" for i in range(1, SIM_PREFIXES + 1))
    stale = [pv for pv in list(epics.pv._PVcache_.values()) if pv.pvname.startswith(prefixes)]
    for pv in stale:
        pv.disconnect()
    # a page's ca.create_channel keeps the channel of a name after its PVs are gone: clear it
    for name in {pv.pvname for pv in stale}:
        ca.clear_channel(ca.create_channel(name))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_examples_run(page: Path, beamline) -> None:
    # The namespace is not cleared afterwards: PVs a page made may still run its callbacks (on a
    # disconnect when the beamline stops), which must find the page's names.
    globs: Dict[str, object] = {"__name__": f"docs.{page.stem}"}
    failed, tried, report = run_page(page, globs)
    if page.stem in PAGES_WITH_EXAMPLES:
        assert tried > 0, f"no doctest examples found in {page.name}"
    assert failed == 0, f"{failed} of {tried} examples of {page.name} failed:\n{report}"


def test_every_page_is_in_the_toctree() -> None:
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s{3,}([\w-]+)\s*$", index, re.MULTILINE))
    missing = {p.stem for p in PAGES} - listed - {"index"}
    assert not missing, f"pages not in the toctree of docs/index.rst: {sorted(missing)}"


# ---- the testing kit's tutorial ------------------------------------------------------------------

_CAPTIONED = re.compile(r"^\.\. code-block:: \w+\n((?:[ ]{3}:[\w-]+:.*\n)+)\n((?:(?:[ ]{3}.*)?\n)+)",
                        re.MULTILINE)


def captioned_files(text: str) -> Dict[str, str]:
    """The ``.. code-block::`` bodies of a page that have a ``:caption:`` naming a file."""
    files: Dict[str, str] = {}
    for options, body in _CAPTIONED.findall(text):
        caption = re.search(r":caption:\s*(\S+)", options)
        if caption:
            lines = [line[3:] for line in body.splitlines()]
            files[caption.group(1)] = "\n".join(lines).strip("\n") + "\n"
    return files


def _plugin_installed() -> bool:
    """True when the epics_testing pytest plugin is registered through the package's entry point."""
    try:
        entry_points = importlib.metadata.entry_points(group="pytest11")
    except TypeError:                                   # Python 3.9: no keyword selection
        entry_points = importlib.metadata.entry_points().get("pytest11", [])
    return any(ep.value == "epics.testing.plugin" for ep in entry_points)


def test_testing_tutorial_runs(tmp_path: Path) -> None:
    files = captioned_files((DOCS / "testing.rst").read_text(encoding="utf-8"))
    tests = [name for name in files if name.startswith("test_") and name.endswith(".py")]
    assert tests and "pyproject.toml" in files, f"docs/testing.rst: captioned files {list(files)}"
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    # A clean client environment: the plugin of the inner session sets its own EPICS_CA_*.
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
            str(tmp_path)]
    if not _plugin_installed():          # running from a checkout that is not pip-installed
        argv += ["-p", "epics.testing.plugin"]
    try:
        proc = subprocess.run(argv + tests, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=TUTORIAL_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the testing tutorial did not finish within {TUTORIAL_TIMEOUT} s:\n"
                    f"{exc.stdout}\n{exc.stderr}")
    assert proc.returncode == 0, f"the testing tutorial failed:\n{proc.stdout}\n{proc.stderr}"
    assert " passed" in proc.stdout and "failed" not in proc.stdout, proc.stdout


# ---- the build -----------------------------------------------------------------------------------

def test_sphinx_build_has_no_warnings(tmp_path: Path) -> None:
    if importlib.util.find_spec("sphinx") is None:
        pytest.skip("sphinx is not installed (pip install '.[docs]'); the docs build is not checked")
    argv = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
            str(DOCS), str(tmp_path / "html")]
    try:
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True,
                              timeout=SPHINX_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"sphinx-build did not finish within {SPHINX_TIMEOUT} s:\n{exc.stderr}")
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stdout}\n{proc.stderr}"
    assert (tmp_path / "html" / "index.html").is_file()


# ---- the console examples (docs/cli.rst and others): run each command-line tool as shown ------

_TOOLS = ("caget", "caput", "camonitor", "cainfo")
_FAILURE_WORDS = ("Error occurred", "timed out", "not found")


def _console_examples() -> List[Tuple[str, List[str], List[str]]]:
    """(page, command words, documented output lines) for every ``$ caget ...``-style line of a
    ``.. code-block:: console`` block."""
    import shlex
    examples = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        inside = False
        for number, line in enumerate(lines):
            if line.strip() == ".. code-block:: console":
                inside = True
                continue
            if inside and line and not line.startswith(" "):
                inside = False
            stripped = line.strip()
            if not inside or not stripped.startswith("$ "):
                continue
            words = shlex.split(stripped[2:])
            if not words or words[0] not in _TOOLS:
                continue
            if ">" in words:                       # drop a shell redirection
                words = words[:words.index(">")]
            output = []
            for following in lines[number + 1:]:
                text = following.strip()
                if not text or text.startswith("$ ") or not following.startswith("   "):
                    break
                output.append(text)
            examples.append((f"{page.name}:{number + 1}", words, output))
    return examples


CONSOLE_EXAMPLES = _console_examples()


@pytest.mark.parametrize("where, words, output", CONSOLE_EXAMPLES,
                         ids=[example[0] for example in CONSOLE_EXAMPLES])
def test_console_examples_run(where: str, words: List[str], output: List[str], beamline) -> None:
    """Each documented command runs against the simulator, succeeds or fails as documented,
    and names the PVs its documented output names (values change, so only names are compared)."""
    if words[0] == "camonitor" and "--count" not in words and "--duration" not in words:
        words = [words[0], "--duration", "2"] + words[1:]   # the page stops it with Ctrl-C
    env = dict(os.environ, **beamline.client_env())
    result = subprocess.run([sys.executable, "-m", "epics", *words], capture_output=True,
                            text=True, timeout=60, env=env)
    documented_failure = any(word in line for line in output for word in _FAILURE_WORDS)
    assert (result.returncode != 0) == documented_failure, (
        f"{where}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    seen = result.stdout + result.stderr
    for line in output:
        first = line.split()[0] if line.split() else ""
        if re.fullmatch(r"(id\d\d|sim):[\w:.]+", first):
            assert first in seen, f"{where}: {first} missing from\n{seen}"
