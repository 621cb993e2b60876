"""How the command line meets the user: logging, and one clear line (exit status 2) for a mistake or the machine's state.

- ``user_errors`` wraps a command: a SmartMiningError, or an OSError of the machine's state (a folder that
  cannot be written, a full disk, a path under a file), is printed as one line naming the path, with no
  traceback, and the command exits with status 2. Folders the failed command created for ``--out`` and
  left empty are removed, so a failed start leaves nothing behind.
- ``setup_logging`` logs INFO to stderr (DEBUG with ``--verbose``) and silences FAISS's loader, which
  reports every library it tries, failures included, unless ``--verbose``.
- ``Main``, the command group, prints click's own usage errors the same way ("error: ..." on one line).
- The options several commands share: --config, --profile, --set (``profile_options``) and --threads.
- ``check_dataset_options`` checks ``--option KEY=VALUE`` values against the dataset preparer's types.
"""

from __future__ import annotations

import errno
import functools
import inspect
import logging
import sys
import types
import typing
from pathlib import Path
from typing import Any, Callable

import click

from smartmining.errors import SmartMiningError

# OSErrors that say something about the user's paths or the machine, not about the program.
MACHINE_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENOTDIR, errno.EEXIST,
                  errno.EISDIR, errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP}
_HINTS = {
    errno.ENOSPC: "the disk is full; files written before (the last complete checkpoint included) are kept: "
                  "free some space and run the command again",
    errno.EDQUOT: "the disk quota is used up; files written before (the last complete checkpoint included) are "
                  "kept: free some space and run the command again",
    errno.EACCES: "no permission to write there: choose another path or change the folder's permissions",
    errno.EPERM: "no permission to write there: choose another path or change the folder's permissions",
    errno.EROFS: "the file system is read-only: choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EEXIST: "a file of that name is in the way of a folder: choose another path",
}
QUIET_LOGGERS = ("faiss", "faiss.loader")
DEFAULT_PARAMS = "params.yaml"

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_PARAMS, show_default=True,
    help="params.yaml holding the profiles.",
)
profile_option = click.option("--profile", default=None, help="Profile of params.yaml (default: its 'profile' key).")
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
    help="Override one parameter of the profile, e.g. --set train.epochs=3 (repeatable).",
)

threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=None,
    help="CPU threads of this job [default: the profile's train.threads]; the pipeline passes the threads it allots.",
)


def profile_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --profile and --set: which profile of which params.yaml, with what overrides."""
    return config_option(profile_option(set_option(func)))


class Main(click.Group):
    """The command group. Click's own usage errors (a missing option, a value out of range) read as every
    other error of the command line: one line starting with "error:" (cli_support.user_errors), status 2."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def os_error_message(exc: OSError) -> str:
    """One line: the path, what went wrong, what to do."""
    where = f"{exc.filename}: " if exc.filename is not None else ""
    hint = _HINTS.get(exc.errno or 0)
    return f"{where}{exc.strerror or exc}" + (f" ({hint})" if hint else "")


def _missing_chain(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    chain = []
    for p in [path, *path.parents]:
        if p.exists() or p.is_symlink():
            break
        chain.append(p)
    return chain


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        except OSError:
            return


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a user's or the machine's error as one clear line (no traceback) and exit with status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        created = _missing_chain(Path(out).absolute()) if out is not None else []
        try:
            return func(*args, **kwargs)
        except SmartMiningError as exc:
            _remove_empty(created)
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except OSError as exc:
            _remove_empty(created)
            if exc.errno not in MACHINE_ERRNOS:
                raise
            click.echo(f"error: {os_error_message(exc)}", err=True)
            sys.exit(2)
        except BaseException:
            _remove_empty(created)
            raise

    return wrapper


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _accepts(value: Any, hint: Any) -> bool:
    """Whether a YAML-read value fits a preparer's type hint (ints pass as floats; strings as paths)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint in (str, Path):
        return isinstance(value, (str, Path))
    return True


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a text", Path: "a path",
               type(None): "null"}


def _describe(hint: Any) -> str:
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return " or ".join(_TYPE_WORDS.get(a, "a list" if typing.get_origin(a) in (list, tuple) else str(a)) for a in args)


def check_dataset_options(dataset: str, options: dict[str, Any], given: set[str]) -> None:
    """Each option in ``given`` (the --option keys) has the type the dataset's preparer declares."""
    from smartmining.data.registry import DATASETS

    preparer = DATASETS.get(dataset)
    if preparer is None:
        return  # prepare_dataset names the unknown dataset
    try:
        hints = typing.get_type_hints(preparer)
    except (NameError, TypeError):
        return
    generic = {"val_classes": int, "val_seed": int, "skip_bad_images": bool}
    for key in sorted(given):
        hint = hints.get(key, generic.get(key))
        if hint is not None and key in options and not _accepts(options[key], hint):
            raise SmartMiningError(f"--option {key}={options[key]!r}: dataset {dataset!r} expects {_describe(hint)} "
                                   f"for {key}")


def load(config_path: Path, profile: str | None, overrides: tuple[str, ...]) -> dict[str, Any]:
    """The resolved, validated profile (params.yaml, the profile's name, --set overrides)."""
    from smartmining.config import load_params

    return load_params(config_path, profile, overrides)
