"""Reading a directory file (docs/reference.md §3): YAML in; a Directory, or problems at
file:line, out.

Validation is ``core.directory``'s; this module adds what only the file knows: where each field
was written, and the keys by which it names a person's account on a channel (``wecom_userid``),
which core reads as a channel -> address map. The YAML is composed once into a node tree, and
each problem's path is followed down that tree to the line of its node; when the key is absent (a
missing field) the nearest enclosing node that exists gives the line, so a missing field points at
its mapping.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.directory import Directory, DirectoryProblem
from core.directory import Path as FieldPath
from core.directory_checks import validate_directory

if TYPE_CHECKING:
    from bot.services.directory.load import LoadSummary
    from bot.services.unit.context import ServiceContext


class DirectoryFileError(Exception):
    """A directory file that cannot be used; ``lines`` read ``file:line: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.lines: list[str] = list(problems)

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __reduce__(self) -> tuple[type[DirectoryFileError], tuple[list[str]]]:
        # Raised in ``run``'s worker process, and told by the parent as it was written there.
        return DirectoryFileError, (self.lines,)


def read_directory(path: Path) -> Directory:
    """Read and validate a directory file; raise DirectoryFileError naming every problem."""
    return _directory_of(path, _bytes_of(path))


def fingerprint(data: bytes) -> str:
    """What identifies a directory file's load: its SHA-256, and the schema it is loaded under (a
    new release may make other rows of the same file)."""
    from db.schema import newest_revision

    return f"{newest_revision()}:{hashlib.sha256(data).hexdigest()}"


async def load_file(
    ctx: ServiceContext,
    path: Path,
    *,
    elsewhere: Callable[[Path], Awaitable[LoadSummary]] | None = None,
) -> LoadSummary:
    """Load the directory file at ``path``, unless the database holds it as its last load left
    it: then it is not even parsed (``same_file``). ``elsewhere`` loads it instead of this
    process (``bot.app`` hands a city's file to a worker process)."""
    # Imported here: every command imports this module for its error, and only loads need these.
    from bot.services.directory.load import LoadSummary, holds_file, load_directory

    data = _bytes_of(path)
    mark = fingerprint(data)
    if await holds_file(ctx, mark):
        return LoadSummary(same_file=True)
    if elsewhere is not None:
        return await elsewhere(path)
    return await load_directory(ctx, _directory_of(path, data), file=mark)


def _bytes_of(path: Path) -> bytes:
    """The file's bytes, or DirectoryFileError saying why there are none."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DirectoryFileError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise DirectoryFileError([f"{path}: is a folder, not a directory file"]) from None
    except OSError as exc:
        raise DirectoryFileError([f"{path}: cannot read it: {exc.strerror or exc}"]) from None


def _directory_of(path: Path, data: bytes) -> Directory:
    """The directory in the file's ``data``, or DirectoryFileError naming every problem."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DirectoryFileError([f"{path}: not UTF-8 text ({exc.reason})"]) from None
    root, parsed = _parse(path, text)
    del text  # a city's file is 14 MB of text, and its tree is built from here on
    if root is None or not isinstance(parsed, dict):
        found = "the file is empty" if root is None else f"found a {type(parsed).__name__}"
        line = 1 if root is None else root.start_mark.line + 1
        expected = "expected a mapping with timezone, defaults, people, communities, ..."
        raise DirectoryFileError([f"{path}:{line}: directory: {expected}; {found}"])

    located = list(_duplicate_keys(root, ()))
    result = validate_file_data(parsed)
    if isinstance(result, Directory) and not located:
        return result
    if not isinstance(result, Directory):
        located += [(_line(root, problem.path), problem) for problem in result]
    # stable sort: problems read top to bottom like the file, same-line ones in found order
    located.sort(key=lambda pair: pair[0])
    raise DirectoryFileError([f"{path}:{n}: {p.field}: {p.message}" for n, p in located])


# A person's keys in the file that name their account on a channel, and that channel. WeCom's
# userids are case-insensitive (its API answers them lower-cased): kept lower-case.
ACCOUNT_KEYS = {"wecom_userid": "wecom"}
_HIDDEN = "addresses"  # core's name for them, not the file's


def validate_file_data(data: object) -> Directory | list[DirectoryProblem]:
    """Validate a directory file's parsed data: its account keys read into each person's
    addresses, and every problem said in the file's own keys."""
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(people, list):
        return _in_file_words(validate_directory(data))
    found: list[DirectoryProblem] = []
    entries = [_entry_of(entry, i, found) for i, entry in enumerate(people)]
    result = _in_file_words(validate_directory({**data, "people": entries}))
    if not found:
        return result
    return found + (result if isinstance(result, list) else [])


def _entry_of(entry: object, index: int, found: list[DirectoryProblem]) -> object:
    """A person's entry with its account keys moved into ``addresses``."""
    if not isinstance(entry, dict):
        return entry
    if _HIDDEN in entry:  # not a key of the file's: only the account keys write it
        found.append(DirectoryProblem(("people", index, _HIDDEN), _unknown(_HIDDEN)))
    moved = {k: v for k, v in entry.items() if k not in ACCOUNT_KEYS and k != _HIDDEN}
    accounts: dict[str, Any] = {}
    for key, channel in ACCOUNT_KEYS.items():
        value = entry.get(key)
        if value is not None:
            accounts[channel] = value.lower() if isinstance(value, str) else value
    if accounts:
        moved[_HIDDEN] = accounts
    return moved


def _unknown(key: str) -> str:
    keys = ", ".join(repr(k) for k in ACCOUNT_KEYS)
    return f"unknown key {key!r}; a person's accounts are written as {keys}"


def _in_file_words(
    result: Directory | list[DirectoryProblem],
) -> Directory | list[DirectoryProblem]:
    """Problems at ``addresses.<channel>`` said at the file's key for that channel."""
    if isinstance(result, Directory):
        return result
    return [DirectoryProblem(_file_path(p.path), _file_message(p.message)) for p in result]


_KEY_OF = {channel: key for key, channel in ACCOUNT_KEYS.items()}


def _file_path(path: FieldPath) -> FieldPath:
    """A path through ``addresses`` as the file's key: (people, 3, wecom_userid)."""
    for at, part in enumerate(path):
        if part == _HIDDEN and at + 1 < len(path) and path[at + 1] in _KEY_OF:
            return (*path[:at], _KEY_OF[str(path[at + 1])], *path[at + 2 :])
        if part == _HIDDEN:
            return (*path[: at + 1],)
    return path


def _file_message(message: str) -> str:
    """Core's words for the accounts in the file's words."""
    message = message.replace(f"; did you mean {_HIDDEN!r}?", "")  # a key the file never has
    for channel, key in _KEY_OF.items():
        message = message.replace(f"{_HIDDEN}.{channel}", key)
    return re.sub(rf"\b{_HIDDEN}\b", ", ".join(ACCOUNT_KEYS), message)


# libyaml's loader where the machine has it (the wheels do): a district's 100,000 people parse in
# about a second, not a minute (bench/city_directory.py). A file it refuses is read again by
# PyYAML's own, whose words (and lines) the errors have always given.
_FAST: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(path: Path, text: str) -> tuple[Node | None, object]:
    """The node tree and the plain data, from one parse; bad YAML is one located line."""
    try:
        return _load(_FAST, text)
    except yaml.YAMLError:
        pass
    try:
        return _load(yaml.SafeLoader, text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or "not valid YAML"
        if exc.context:
            # an unclosed bracket or quote is noticed lines later: say where it was opened
            start = exc.context_mark.line + 1 if exc.context_mark else line
            where = f" that starts on line {start}" if start != line else ""
            what = f"{exc.context}{where}: {what}"
        raise DirectoryFileError([f"{path}:{line}: yaml: {what}"]) from None
    except yaml.YAMLError as exc:
        raise DirectoryFileError([f"{path}:1: yaml: {exc}"]) from None


def _load(kind: type[yaml.SafeLoader], text: str) -> tuple[Node | None, object]:
    """One parse with loader ``kind``: the node tree (with its lines) and the plain data."""
    loader = kind(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def _line(root: Node, path: tuple[str | int, ...]) -> int:
    """The 1-based line of the field at ``path``, or of the nearest enclosing node written."""
    node, line = root, root.start_mark.line + 1
    for part in path:
        if isinstance(node, MappingNode):
            # the last of repeated keys, as the loader keeps; the key's line names the field
            pairs = [(k, v) for k, v in node.value if _key(k) == str(part)]
            if not pairs:
                break
            key, node = pairs[-1]
            line = key.start_mark.line + 1
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _key(node: Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def _duplicate_keys(
    node: Node, path: tuple[str | int, ...], seen: set[int] | None = None
) -> Iterator[tuple[int, DirectoryProblem]]:
    """Keys written twice in one mapping: YAML keeps only the last, silently losing the first."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias points back at a node already walked
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        first: dict[str, int] = {}
        for key_node, value in node.value:
            key, line = _key(key_node), key_node.start_mark.line + 1
            if key is None:
                continue
            if key in first:
                message = f"duplicate key {key!r}, also on line {first[key]}: only this one counts"
                yield line, DirectoryProblem((*path, key), message)
            first.setdefault(key, line)
            yield from _duplicate_keys(value, (*path, key), seen)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, index), seen)
