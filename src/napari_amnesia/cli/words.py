"""The command's words: plain help text, and library messages in option names.

A library error says ``CNMFParams.gSig should be positive``; the user typed
``--gsig``. :func:`in_cli_words` rewrites messages, warnings and log lines with the
options of the subcommand that ran, and :func:`plain_text` strips reST markup from the
help generated out of docstrings.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import warnings

__all__ = ["plain_text", "plain_help", "option_names", "in_cli_words", "subparser",
           "warnings_as_lines", "log_as_lines"]


#: reST markup that has no place in ``--help``: roles, literals, citations, links.
_REST = [
    (re.compile(r"\s*\[\w+\]_"), ""),                                # citations [1]_
    (re.compile(r":\w+(?::\w+)?:`~?(?:[^`<]*<)?([^`>]+)>?`"),
     lambda m: m.group(1).rsplit(".", 1)[-1] if "~" in m.group(0) else m.group(1)),  # roles
    (re.compile(r"``([^`]+)``"), r"\1"),                              # literals
    (re.compile(r"`([^`<]+?)\s*<[^>]+>`__?"), r"\1"),                 # links
    (re.compile(r"`([^`]+)`_{0,2}"), r"\1"),                          # interpreted text
]


def plain_text(text: str) -> str:
    """``text`` without reST markup (for ``--help``, which is not rendered)."""
    for pattern, replacement in _REST:
        text = pattern.sub(replacement, text)
    return text


def plain_help(parser: argparse.ArgumentParser) -> None:
    """Strip reST markup from every help text and description of ``parser``."""
    if parser.description:
        parser.description = plain_text(parser.description)
    for action in parser._actions:
        if action.help and action.help is not argparse.SUPPRESS:
            action.help = plain_text(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.help:
                    choice.help = plain_text(choice.help)
            for sub in action.choices.values():
                plain_help(sub)


def option_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``{library name: --option}`` for every option of ``parser`` (a subcommand's).

    Options generated from a parameter dataclass have the dest ``param_<name>``
    (``param_gSig`` → ``--gsig``); the others their own dest (``channel``).
    """
    names: dict[str, str] = {}
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or action.dest in {"help", "version"}:
            continue
        dest = action.dest[len("param_"):] if action.dest.startswith("param_") else action.dest
        names[dest] = longs[0]
        names.setdefault(longs[0][2:].replace("-", "_"), longs[0])
    return names


def in_cli_words(message: str, names: dict[str, str]) -> str:
    """Spell the parameter names of a library message as the command's options.

    ``CNMFParams.gSig should be positive`` → ``--gsig should be positive``;
    ``got channel=3`` → ``got --channel 3``; ``pass overwrite=True`` → ``pass
    --overwrite``; ``nan_policy='fill'`` → ``--nan-policy fill``. A bare name is
    translated only when it cannot be an English word (``min_SNR``, ``gSig``).
    """
    if not names:
        return message
    alternatives = "|".join(sorted(map(re.escape, names), key=len, reverse=True))

    def assigned(m: re.Match) -> str:
        option, value = names[m.group(1)], m.group(2)
        end = "." if value.endswith(".") and not value.endswith("..") else ""
        value = value[: len(value) - len(end)].strip("'\"")
        return (option if value == "True" else f"{option} {value}") + end

    message = re.sub(rf"\b(?:[A-Z]\w*Params\.)({alternatives})\b",
                     lambda m: names[m.group(1)], message)
    message = re.sub(rf"(?<![\w./\\-])({alternatives})=('[^']*'|\"[^\"]*\"|[^\s,;)]+)",
                     assigned, message)
    message = re.sub(rf"(?:``|`|'|\")({alternatives})(?:``|`|'|\")",
                     lambda m: names[m.group(1)], message)
    technical = [n for n in names if "_" in n or any(c.isupper() for c in n[1:])]
    if technical:
        pattern = "|".join(sorted(map(re.escape, technical), key=len, reverse=True))
        # not inside a path: no letter, dot, dash or slash before; no slash or ".x" after
        message = re.sub(rf"(?<![\w./\\-])({pattern})\b(?![=(/\\\w]|\.\w)",
                         lambda m: names[m.group(1)],
                         message)
    return message


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """Return the parser of subcommand ``command`` (``parser`` itself if none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(command, parser)
    return parser


@contextlib.contextmanager
def warnings_as_lines(names: dict[str, str]):
    """Show each warning of the library once, as one ``amnesia: warning:`` line."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"amnesia: warning: {in_cli_words(str(message), names)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


class _LogLines(logging.Handler):
    """Print the library's warnings and errors as ``amnesia: warning:`` lines.

    In the command's words (``min_shift_support=3`` → ``--min-shift-support 3``).
    """

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__(logging.WARNING)
        self.names = names

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad log call must not stop the command
            self.handleError(record)
            return
        level = "error" if record.levelno >= logging.ERROR else "warning"
        print(f"amnesia: {level}: {in_cli_words(text, self.names)}", file=sys.stderr)


@contextlib.contextmanager
def log_as_lines(names: dict[str, str], verbose: bool):
    """Print the package's log records as plain lines.

    Without ``--verbose``, records of level WARNING and above are printed as plain
    lines (no logger names); with it, everything from INFO, as a developer wants it.
    """
    package = logging.getLogger("napari_amnesia")
    if verbose:
        logging.basicConfig(level=logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
        yield
        return
    handler = _LogLines(names)
    saved = (package.level, package.propagate)
    package.addHandler(handler)
    package.setLevel(logging.WARNING)
    package.propagate = False
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]


