"""``python -m epics TOOL [options] ...``: run a command-line tool without its console script.

``python -m epics caget -t my:ai`` is the same as ``caget -t my:ai``. Tools: caget, caput,
camonitor, cainfo, caRepeater. The tool's module is imported only when it is asked for, so this
starts nothing else.
"""
from __future__ import annotations

import importlib
import sys
from typing import List, Optional

#: Tool name -> module of epics.cli providing ``main(argv) -> int``.
TOOLS = {
    "caget": "epics.cli.caget",
    "caput": "epics.cli.caput",
    "camonitor": "epics.cli.camonitor",
    "cainfo": "epics.cli.cainfo",
    "caRepeater": "epics.cli.carepeater",
}

_USAGE = """\
usage: python -m epics TOOL [options] ...

Channel Access command-line tools (as EPICS base's):
  caget       read and print PV values
  caput       write a value to a PV
  camonitor   print PV values as they change
  cainfo      print the connection, access and type of PVs
  caRepeater  run the CA repeater

'python -m epics TOOL -h' shows a tool's options.
"""


def main(argv: Optional[List[str]] = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to a tool; return its exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(_USAGE)
        return 0 if args else 1
    name = args[0]
    module = TOOLS.get(name) or {key.lower(): value for key, value in TOOLS.items()}.get(
        name.lower())
    if module is None:
        sys.stderr.write(f"python -m epics: unknown tool '{name}' (choose from "
                         f"{', '.join(TOOLS)})\n")
        return 1
    return importlib.import_module(module).main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
