"""Render the CLI reference (`docs/cli.md`) from the live parser, so it cannot drift.

Run ``python -m radkit.cli_docs docs/cli.md`` (or ``make docs``); a test checks the
committed file equals the rendering.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys


def _walk(tree: dict, prefix: list[str]):
    for name, comp in tree.items():
        yield prefix + [name]
        if isinstance(comp, dict):
            yield from _walk(comp, prefix + [name])


def render_reference() -> str:
    """Markdown with the ``--help`` text of every command and group, in parser order."""
    from radkit.cli import components, main

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width: fix it for a stable file
    try:
        parts = ["# radkit command-line reference", "",
                 "Generated from the parser by `make docs` (`python -m radkit.cli_docs docs/cli.md`); "
                 "do not edit by hand.", ""]
        for cmd in [[]] + list(_walk(components(), [])):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                main(cmd + ["--help"])
            title = " ".join(["radkit", *cmd])
            parts += [f"## `{title}`", "", "```text", buf.getvalue().rstrip(), "```", ""]
        return "\n".join(parts)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


if __name__ == "__main__":
    from radkit.fileio import atomic_write_bytes

    target = sys.argv[1] if len(sys.argv) > 1 else "docs/cli.md"
    atomic_write_bytes(target, render_reference().encode())
    print(f"wrote {target}")
