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

# user-facing failures print one line (add --debug for the traceback); OSError covers permissions and
# full disks, ImportError optional backends the user has not installed (their message says how)
USER_ERRORS = (ValueError, KeyError, OSError, ImportError, RuntimeError)


def components(only: str | None = None) -> dict:
    """The jsonargparse component tree: {name: function | {sub: function}}.

    Args:
        only: build just this area (the command being run), so a light command does not
            pay for importing the heavy ones (Lightning, TRL) at start-up.
    """
    out: dict = {}
    for name, modname in AREAS.items():
        if only is not None and name != only:
            continue
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


def _description(fn) -> str:
    """Help text of a command function: its docstring up to ``Args:`` plus any
    ``Example:``/``Examples:`` section (wherever it sits), dedented."""
    import inspect
    import re

    doc = inspect.getdoc(fn) or ""
    head = doc.split("\nArgs:")[0].strip()
    if "Example" not in head:
        m = re.search(r"\n(Examples?:.*?)(?:\n\S[^\n]*:\n|\Z)", doc, flags=re.S)
        if m:
            head += "\n\n" + m.group(1).strip()
    return head


def _add(parser, tree: dict) -> None:
    """Add one subcommand per entry of ``tree`` (functions or nested dicts)."""
    import inspect
    from argparse import RawDescriptionHelpFormatter

    from jsonargparse import ActionConfigFile, ArgumentParser

    subs = parser.add_subcommands(required=True, dest="_cmd")
    nested = []
    for name, comp in tree.items():
        if isinstance(comp, dict):
            sub = ArgumentParser(description=f"radkit {name} commands")
            help_ = f"{name} commands: {', '.join(comp)}"
            nested.append((sub, comp))
        else:
            sub = ArgumentParser(description=_description(comp), formatter_class=RawDescriptionHelpFormatter)
            if "config" not in inspect.signature(comp).parameters:
                # `--config run.yaml`: keys map 1:1 to the function's arguments; flags after it win
                sub.add_argument("--config", action=ActionConfigFile, help="YAML file of arguments")
            sub.add_function_arguments(comp, as_positional=True)
            help_ = _description(comp).split("\n")[0]
        subs.add_subcommand(name, sub, help=help_)
    # jsonargparse wants subcommands attached level by level
    for sub, comp in nested:
        _add(sub, comp)


def _run(tree: dict, cfg):
    """Call the function selected by the parsed namespace ``cfg``."""
    name = cfg["_cmd"]
    comp, sub_cfg = tree[name], cfg[name]
    if isinstance(comp, dict):
        return _run(comp, sub_cfg)
    kwargs = {k: v for k, v in dict(sub_cfg).items() if k not in ("config", "__path__")}
    return comp(**kwargs)


def _selected(tree: dict, argv: list[str]):
    """(the command function ``argv`` names, index of its first argument); (None, i) when argv stops at a group."""
    comp, i = tree, 0
    while isinstance(comp, dict) and i < len(argv) and argv[i] in comp:
        comp, i = comp[argv[i]], i + 1
    return (None if isinstance(comp, dict) else comp), i


def _bare_bool_flags(tree: dict, argv: list[str]) -> list[str]:
    """Let boolean options be given bare (``--json`` = ``--json true``) for the selected command."""
    import typing

    comp, i = _selected(tree, argv)
    if comp is None:
        return argv
    try:
        hints = typing.get_type_hints(comp)
    except Exception:  # unresolvable annotations: leave argv alone
        return argv
    bools = {f"--{n}" for n, t in hints.items() if t is bool or t == typing.Optional[bool]}
    out = list(argv[:i])
    for j in range(i, len(argv)):
        out.append(argv[j])
        nxt = argv[j + 1] if j + 1 < len(argv) else None
        if argv[j] in bools and (nxt is None or nxt.startswith("--")):
            out.append("true")
    return out


def _join_many_positionals(tree: dict, argv: list[str]) -> list[str]:
    """Let a command marked ``many_positional`` take its one positional as several words
    (``radkit reason score a.json b.json``, a shell glob): they are joined with commas, the form
    its function parses. Option values (``--judge offline``) are never gathered."""
    comp, i = _selected(tree, argv)
    if not getattr(comp, "many_positional", False):
        return argv
    head, rest, words, j = list(argv[:i]), [], [], i
    while j < len(argv):
        a = argv[j]
        if a.startswith("-"):  # an option: keep it with its value (unless written --opt=value or a help flag)
            takes_value = "=" not in a and a not in ("-h", "--help") and j + 1 < len(argv)
            rest += argv[j:j + 1 + takes_value]
            j += 1 + takes_value
        else:
            words.append(a)
            j += 1
    return head + ([",".join(words)] if words else []) + rest


def build_parser(tree: dict | None = None):
    """The full `radkit` parser (used by main and by the generated CLI reference)."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="radkit", description="radkit: similar-case search and reasoning for "
                            "chest X-ray and CT. Add --debug to any command for a full traceback.",
                            exit_on_error=True)
    _add(parser, components() if tree is None else tree)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 user error, 2 usage error)."""
    from radkit import __version__

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):
        print(f"radkit {__version__}")
        return 0
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        tree = components(only=argv[0] if argv and argv[0] in AREAS else None)
        parser = build_parser(tree)
        cfg = parser.parse_args(_join_many_positionals(tree, _bare_bool_flags(tree, argv)))
        result = _run(tree, cfg.as_dict())
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
