"""The shape of the product, checked from its source: the arrows point one way
(core <- db <- bot.services <- channels/scheduler <- bot.app), nothing imports itself round in a
circle, the services' rooms lean only on the kernel and on what is below them, and no room or
module grows past the size a person reads in one sitting.

Every rule reads the files with ``ast`` (nothing is imported), and is written over packages and
prefixes, not lists of files, so a module split into a new file is held to the same rules at once.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The product: what ships and runs. tests, bench and sandbox lean on it and are not held to its
# rules.
PRODUCT = ("core", "db", "bot", "scheduler")
# Ours, for naming what an import points at: the product plus the sandbox (so that the one door
# into it, `wolaiban demo`, can be named and allowed).
OURS = (*PRODUCT, "sandbox")


# --- reading the imports ---------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One name an import statement brings in, resolved to the module it runs."""

    path: Path  # the importing file
    line: int
    text: str  # the statement as written, for the failure messages
    target: str  # the module of ours it runs, or the third-party / stdlib name as written

    @property
    def where(self) -> str:
        return f"{_rel(self.path)}:{self.line}: {self.text}"


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _module_name(path: Path) -> str:
    """``bot/cli/main.py`` is ``bot.cli.main``; a package's ``__init__.py`` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@cache
def _modules() -> frozenset[str]:
    """Every module of ours: each file, and each folder holding one (a package, or a namespace
    package such as ``bot.console``, which has no ``__init__.py`` but is still importable)."""
    found: set[str] = set()
    for top in OURS:
        for path in _files(top):
            found.add(_module_name(path))
            for parent in path.relative_to(ROOT).parents[:-1]:
                found.add(".".join(parent.parts))
    return frozenset(found)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _ours(name: str) -> str | None:
    """The longest dotted prefix of ``name`` that is a module of ours (``import bot.x.missing``
    still runs ``bot.x``), or None for the standard library and third parties."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in _modules():
            return candidate
        parts.pop()
    return None


def _statement(source: list[str], node: ast.stmt) -> str:
    lines = source[node.lineno - 1 : (node.end_lineno or node.lineno)]
    return " ".join(line.strip() for line in lines)


@cache
def _imports(path: Path) -> tuple[Import, ...]:
    """Every import in the file: at the top, inside functions, under ``if TYPE_CHECKING:`` (a
    type-only import still ties the modules together for a reader and for a type checker), and
    relative ones, resolved against the file's package.

    ``from pkg import name`` runs ``pkg.name`` when that is a module of ours, otherwise it takes a
    name out of ``pkg``; ``import a.b.c`` runs ``a.b.c``.
    """
    text = path.read_text(encoding="utf-8")
    source = text.splitlines()
    here = _module_name(path)
    package = here if _is_package(path) else here.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Import):
            found += [
                Import(path, node.lineno, _statement(source, node), _ours(a.name) or a.name)
                for a in node.names
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # `from . import x` in bot/delivery/dispatcher.py is `from bot.delivery import x`;
                # each further dot climbs one package.
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base == "__future__":
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in _modules() else (_ours(base) or base)
                found.append(Import(path, node.lineno, _statement(source, node), target))
    # ast.walk goes breadth first; the messages read better in the file's order.
    return tuple(sorted(found, key=lambda imp: imp.line))


def _imports_under(folder: str) -> Iterator[Import]:
    for path in _files(folder):
        yield from _imports(path)


def _under(name: str, prefixes: Iterable[str]) -> bool:
    """``bot.cli.main`` is under ``bot.cli``; ``bot.client`` is not."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# --- the arrows ------------------------------------------------------------------------------

CHANNELS = ("bot.telegram", "bot.sms", "bot.console", "bot.open311")

# For each folder: what of ours it may not import.
FORBIDDEN = {
    "core": ("db", "bot", "scheduler", "sandbox"),
    "db": ("bot", "scheduler", "sandbox"),
    # The use cases know no channel, no delivery, no assembly (app, runtime, web) and no command
    # line: everything that drives them sits above them.
    "bot/services": (
        *CHANNELS,
        "bot.channels",
        "bot.adapter",
        "bot.delivery",
        "bot.app",
        "bot.runtime",
        "bot.cli",
        "bot.web",
        "scheduler",
        "sandbox",
    ),
    # The scheduler is one more driver of the use cases, beside the channels: it sends nothing
    # itself (the dispatcher does) and is started by the app, not the other way round.
    "scheduler": (
        *CHANNELS,
        "bot.delivery",
        "bot.app",
        "bot.runtime",
        "bot.cli",
        "bot.web",
        "sandbox",
    ),
    "bot": ("sandbox",),
}
# The one door from the product to the sandbox: `wolaiban demo` starts the emulators.
EXCEPTIONS = {("bot/cli/commands.py", "sandbox.demo")}
# core may use the standard library and pydantic only.
CORE_ALLOWED_THIRD_PARTY = ("pydantic", "pydantic_core")


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_import_against_the_arrows(folder: str) -> None:
    """A lower layer importing a higher one would make it need everything above it to run (and
    to be tested): the domain would need a database, a use case a channel."""
    wrong = [
        imp.where
        for imp in _imports_under(folder)
        if _under(imp.target, FORBIDDEN[folder]) and (_rel(imp.path), imp.target) not in EXCEPTIONS
    ]
    assert not wrong, "\n".join(wrong)


def test_the_sandbox_exception_is_still_needed() -> None:
    """An exception that no longer matches an import is a door left open for the next one."""
    used = {(_rel(imp.path), imp.target) for imp in _imports_under("bot")}
    assert used >= EXCEPTIONS


def test_core_is_pure() -> None:
    """The domain is stdlib and pydantic only, so it runs (and is tested) with nothing else."""
    allowed = {*sys.stdlib_module_names, *CORE_ALLOWED_THIRD_PARTY, "core"}
    wrong = [imp.where for imp in _imports_under("core") if imp.target.split(".")[0] not in allowed]
    assert not wrong, "\n".join(wrong)


def test_channels_do_not_import_each_other() -> None:
    # bot.delivery is the shared way out (dispatcher, pacing, outcomes): channels use it, and it
    # knows no channel.
    packages = (*CHANNELS, "bot.delivery")
    wrong = [
        imp.where
        for package in packages
        for imp in _imports_under(package.replace(".", "/"))
        if _under(imp.target, [other for other in CHANNELS if other != package])
    ]
    assert not wrong, "\n".join(wrong)


# --- no cycles -------------------------------------------------------------------------------


def _product_graph() -> dict[str, list[Import]]:
    """Each product module and its imports of other product modules."""
    graph: dict[str, list[Import]] = {}
    for top in PRODUCT:
        for path in _files(top):
            graph.setdefault(_module_name(path), []).extend(
                imp for imp in _imports(path) if _under(imp.target, PRODUCT)
            )
    return graph


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a recursive one would meet Python's stack limit on a long
    chain of imports). Returns every component, each a list of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(graph.get(succ, ()))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def test_strongly_connected_finds_a_cycle() -> None:
    """The finder itself: a ring of three, a self-loop, and a tail that belongs to no cycle."""
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["d", "e"], "e": []}
    assert sorted(_strongly_connected(graph)) == [["a", "b", "c"], ["d"], ["e"]]


def _cycles() -> list[str]:
    """Each self-import and each cycle, with the import lines that tie its modules."""
    imports = _product_graph()
    graph = {module: sorted({imp.target for imp in found}) for module, found in imports.items()}
    problems: list[str] = []
    for module, found in sorted(imports.items()):
        problems += [
            f"{module} imports itself: {imp.where}" for imp in found if imp.target == module
        ]
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        members = set(component)
        ties = [
            f"    {imp.where}"
            for module in component
            for imp in imports.get(module, ())
            if imp.target in members and imp.target != module
        ]
        problems.append("cycle: " + " <-> ".join(component) + "\n" + "\n".join(ties))
    return problems


def test_no_import_cycles() -> None:
    """A cycle makes the import order matter (a half-initialised module is a late AttributeError)
    and welds rooms together: neither side can be read, tested or moved without the other.
    Every import counts: one inside a function or under TYPE_CHECKING only hides the cycle."""
    problems = _cycles()
    assert not problems, "\n\n".join(problems)


@pytest.fixture
def fake_product(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A product tree of our own making, read by the same functions as the real one."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    _modules.cache_clear()
    yield tmp_path
    _modules.cache_clear()


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def test_cycles_hidden_in_functions_type_checking_and_relative_imports_are_found(
    fake_product: Path,
) -> None:
    """The cycle a -> b -> c -> a is tied by a relative import under TYPE_CHECKING and a
    two-dot relative import inside a function; a module importing itself is reported too.

    The package's __init__.py re-exports from a, and a does ``from bot.pkg import b``: that runs
    the module bot.pkg.b, not the package, so bot.pkg is not in the cycle (bot/cli/__init__.py
    and bot.cli.main's ``from bot.cli import commands`` are the same shape)."""
    _write(
        fake_product,
        {
            "bot/__init__.py": "",
            "bot/pkg/__init__.py": "from bot.pkg.a import thing\n",
            "bot/pkg/a.py": "from bot.pkg import b\nthing = 1\n",
            "bot/pkg/b.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n"
            ),
            "bot/pkg/c.py": "class C:\n    def f(self):\n        from ..pkg import a\n",
            "bot/selfish.py": "import bot.selfish\n",
        },
    )
    problems = _cycles()
    assert problems == [
        "bot.selfish imports itself: bot/selfish.py:1: import bot.selfish",
        "cycle: bot.pkg.a <-> bot.pkg.b <-> bot.pkg.c\n"
        "    bot/pkg/a.py:1: from bot.pkg import b\n"
        "    bot/pkg/b.py:3: from .c import C\n"
        "    bot/pkg/c.py:3: from ..pkg import a",
    ]


# --- the rooms of bot.services ---------------------------------------------------------------

SERVICES = "bot.services"
KERNEL = f"{SERVICES}.unit"


def _rooms() -> list[str]:
    """The use-case rooms beside the kernel, read from the folder (so a new room is covered):
    each package and each module directly in bot/services, but the kernel."""
    folder = ROOT / "bot/services"
    rooms = [
        f"{SERVICES}.{child.name}"
        for child in folder.iterdir()
        if child.is_dir() and any(child.glob("*.py"))
    ]
    rooms += [
        f"{SERVICES}.{child.stem}" for child in folder.glob("*.py") if child.stem != "__init__"
    ]
    return sorted(room for room in rooms if room != KERNEL)


def _reaches(folder: str, forbidden: Iterable[str]) -> list[str]:
    return [imp.where for imp in _imports_under(folder) if _under(imp.target, forbidden)]


def test_the_rooms_are_found() -> None:
    """Guards the rules below against passing on an empty list."""
    assert {f"{SERVICES}.{room}" for room in ("cases", "talk", "staff", "intake")} <= set(_rooms())


def test_the_kernel_imports_no_use_case() -> None:
    """unit is what every use case stands on (context, unit of work, inbound, receipts,
    identities, limits, traits, the outbox writer); if it reached up into one, every use case
    would carry all the others."""
    wrong = _reaches("bot/services/unit", _rooms())
    assert not wrong, "\n".join(wrong)


def test_cases_stand_on_the_kernel_only() -> None:
    """A case's life (report, lifecycle, announce, parties, photos, routing, timers, handover) is
    what talk, staff, intake, directory and digest are built on; of bot.services it may import
    only the kernel, so none of them is needed to open, move or announce a case."""
    others = [room for room in _rooms() if room != f"{SERVICES}.cases"]
    wrong = _reaches("bot/services/cases", others)
    assert not wrong, "\n".join(wrong)


def test_delivery_imports_no_use_case() -> None:
    """bot.delivery sends what the use cases wrote: it needs the outbox rows and the service
    context (bot.services.unit), never a use case, so sending cannot start a case's logic."""
    wrong = _reaches("bot/delivery", _rooms())
    assert not wrong, "\n".join(wrong)


def test_the_room_rules_see_every_way_of_importing(fake_product: Path) -> None:
    """The kernel reaching up by a package-level name, a relative import and a new one-file room
    is caught; the kernel importing itself is not."""
    _write(
        fake_product,
        {
            "bot/services/__init__.py": "",
            "bot/services/unit/__init__.py": "",
            "bot/services/unit/work.py": (
                "from bot.services import talk\n"
                "from bot.services.unit import context\n"
                "def f():\n    from ..cases.report import open_case\n"
                "import bot.services.health\n"
            ),
            "bot/services/unit/context.py": "",
            "bot/services/cases/report.py": "",
            "bot/services/talk/__init__.py": "",
            "bot/services/health.py": "",
        },
    )
    assert _rooms() == ["bot.services.cases", "bot.services.health", "bot.services.talk"]
    assert _reaches("bot/services/unit", _rooms()) == [
        "bot/services/unit/work.py:1: from bot.services import talk",
        "bot/services/unit/work.py:4: from ..cases.report import open_case",
        "bot/services/unit/work.py:5: import bot.services.health",
    ]


# --- the vendors' words ----------------------------------------------------------------------

# A vendor's vocabulary: its method names, its error codes, its identifiers.
VENDOR_WORDS = (
    "telegram_id",
    "sendMessage",
    "send_message",
    "edit_message_text",
    "answerCallbackQuery",
    "21610",
    "30003",
    "MessageSid",
    "twilio",
    "TwiML",
    "qyapi",
    "template_card",
    "response_code",
    "msgmenu",
    "sync_msg",
    "open_kfid",
    "external_userid",
    "45009",
    "95001",
)
# Channels' names: the texts catalogs name them to people ("sent by WeChat"); no code does.
CHANNEL_NAMES = ("wecom", "wechat", "weixin", "企业微信", "微信")
TEXTS = "core/texts/"
# The directory file's parser and its binding of identities read the file's ``telegram_id`` field.
VENDOR_PARSERS = {
    "core/directory.py",
    "core/directory_checks.py",
    "bot/services/directory/bindings.py",
}


@pytest.mark.parametrize("folder", ["core", "bot/services"])
def test_use_cases_speak_no_vendor(folder: str) -> None:
    """The use cases ask the channel registry; only the adapters (and the directory file's
    parser, which reads its ``telegram_id`` field) know a vendor."""
    wrong = [
        f"{_rel(path)}: {word}"
        for path in _files(folder)
        if _rel(path) not in VENDOR_PARSERS
        for word in (*VENDOR_WORDS, *(() if _rel(path).startswith(TEXTS) else CHANNEL_NAMES))
        if word.casefold() in path.read_text(encoding="utf-8").casefold()
    ]
    assert not wrong, "\n".join(wrong)


def test_the_vendor_parsers_exist() -> None:
    """An exception naming a file that moved away would silently let its successor speak vendor."""
    assert [name for name in sorted(VENDOR_PARSERS) if not (ROOT / name).is_file()] == []


# --- rooms stay small ------------------------------------------------------------------------

MAX_MODULES_PER_FOLDER = 15
MAX_LINES_PER_MODULE = 320
# Migrations are history, one file per migration, never edited once shipped: their folder grows
# with every schema change and is not a room anyone reads as a whole, so it is not counted.
FOLDER_SIZE_EXEMPT = {"db/migrations/versions"}
# A package's door files: they hold no logic of their own worth counting.
NOT_COUNTED = {"__init__.py", "__main__.py"}


def _folders() -> list[Path]:
    folders = {path.parent for top in PRODUCT for path in _files(top)}
    return sorted(f for f in folders if "__pycache__" not in f.parts)


def _counted_folders() -> list[Path]:
    return [f for f in _folders() if _rel(f) not in FOLDER_SIZE_EXEMPT]


def test_the_migrations_are_exempt_and_only_they() -> None:
    """The exempt folder exists and holds migrations only (each names its alembic revision), so
    the exemption cannot shelter code; and it is left out of the count while db/migrations
    above it (env.py) is still counted."""
    for name in FOLDER_SIZE_EXEMPT:
        files = sorted((ROOT / name).glob("*.py"))
        assert files, f"{name} is exempt from the folder size but holds no migrations"
        not_migrations = [
            _rel(path) for path in files if "down_revision" not in path.read_text(encoding="utf-8")
        ]
        assert not_migrations == []
    counted = {_rel(folder) for folder in _counted_folders()}
    assert "db/migrations" in counted
    assert not (FOLDER_SIZE_EXEMPT & counted)


def test_no_folder_holds_more_than_fifteen_modules() -> None:
    """Past fifteen modules a folder is no longer a room one can hold in mind: split it into
    packages by what changes together."""
    wrong = []
    for folder in _counted_folders():
        modules = sorted(p.name for p in folder.glob("*.py") if p.name not in NOT_COUNTED)
        if len(modules) > MAX_MODULES_PER_FOLDER:
            wrong.append(f"{_rel(folder)}: {len(modules)} modules ({', '.join(modules)})")
    print("\n".join(wrong))
    assert not wrong, "\n".join(wrong)


def test_no_module_is_over_320_lines() -> None:
    """A module is read in one sitting; a long one usually holds two jobs. core and db are not
    held to it (the catalogs and the schema are long lists, not long logic)."""
    wrong = []
    for top in ("bot", "scheduler"):
        for path in _files(top):
            with path.open(encoding="utf-8") as f:
                lines = sum(1 for _ in f)
            if lines > MAX_LINES_PER_MODULE:
                wrong.append(f"{_rel(path)}: {lines} lines")
    print("\n".join(wrong))
    assert not wrong, "\n".join(wrong)
