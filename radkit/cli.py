"""`radkit` console script: a thin shell over the API functions of each area.

Each area exposes its subcommands as plain functions in a ``commands`` module
(``COMMANDS`` dict for a group, ``COMMAND`` for a single command); jsonargparse
builds the parser from their signatures and docstrings. Only areas whose module
exists are listed, so no placeholder command ever appears.
"""

from __future__ import annotations

import importlib
import sys

# command name -> module providing COMMANDS (a group) or COMMAND (a single command)
AREAS: dict[str, str] = {
    "data": "radkit.data.commands",
    "train": "radkit.training.commands",
    "index": "radkit.retrieval.commands",
    "search": "radkit.retrieval.search_command",
    "evaluate": "radkit.evaluation.commands",
    "reason": "radkit.reasoning.commands",
    "ops": "radkit.ops.commands",
    "demo": "radkit.demo",
}

USER_ERRORS = (ValueError, FileNotFoundError, KeyError, NotADirectoryError, FileExistsError, RuntimeError)


def components() -> dict:
    """The jsonargparse component tree: {name: function | {sub: function}}."""
    out: dict = {}
    for name, modname in AREAS.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:  # area not built yet: no command
                continue
            raise
        if hasattr(mod, "COMMANDS"):
            out[name] = dict(mod.COMMANDS)
        elif hasattr(mod, "COMMAND"):
            out[name] = mod.COMMAND
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 user error, 2 usage error)."""
    from jsonargparse import CLI

    from radkit import __version__

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):
        print(f"radkit {__version__}")
        return 0
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        result = CLI(components(), args=argv, prog="radkit",
                     description="radkit: similar-case search and reasoning for chest X-ray and CT. "
                                 "Add --debug to any command for a full traceback.")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    except USER_ERRORS as e:
        if debug:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"radkit: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("radkit: interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
