"""The directory file's phones, Telegram ids and accounts on other channels (an entry's
``addresses``, by channel name) as identities: the file owns what it names; a binding the person
made themselves (an invite) stays while the file names none; a resident met on a channel whose
address the file now names hands their cases over and is retired."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.directory import Directory
from db.models import Case, Identity, Person

# The directory file names people's addresses on these channels (its own field names).
_FILE_CHANNELS = ("sms", "telegram")


def _named(directory: Directory) -> dict[tuple[str, str], str]:
    """(channel, address) -> the id of the directory person the file gives it to."""
    named: dict[tuple[str, str], str] = {}
    for p in directory.people:
        if p.phone:
            named[("sms", p.phone)] = p.id
        if p.telegram_id is not None:
            named[("telegram", str(p.telegram_id))] = p.id
        for channel, address in p.addresses.items():
            named[(channel, address)] = p.id
    return named


async def sync_identities(session: AsyncSession, directory: Directory, now: datetime) -> set[str]:
    """Make the directory people's identities match the file; return the ids of the people
    (directory ones) whose identities changed."""
    named = _named(directory)
    rows = (await session.exec(select(Identity))).all()
    people = {p.id: p for p in (await session.exec(select(Person))).all()}
    in_file = {p.id for p in directory.people}
    changed: set[str] = set()
    kept: dict[tuple[str, str], Identity] = {}
    for row in rows:
        owner = named.get((row.channel, row.address))
        holder = people.get(row.person_id)
        directory_holder = holder is not None and holder.source == "directory"
        if owner is not None and owner != row.person_id:
            # The file gives this address to someone else: whoever held it lets go.
            if holder is not None and not directory_holder:
                await _hand_over(session, holder, owner)
            changed.add(row.person_id)
            await session.delete(row)
        elif directory_holder and row.person_id in in_file and _dropped(row, directory, named):
            # An address the file no longer names for its entry. (A retired entry keeps its
            # rows, unused while it is inactive, so it comes back whole; anyone may take them.)
            changed.add(row.person_id)
            await session.delete(row)
        else:
            kept[(row.person_id, row.channel)] = row
    await session.flush()
    for (channel, address), person_id in named.items():
        found = kept.get((person_id, channel))
        if found is not None and found.address == address:
            continue
        row = found or Identity(
            person_id=person_id, channel=channel, address=address, updated_at=now
        )
        row.address, row.source, row.reachable, row.updated_at = address, "directory", True, now
        session.add(row)
        changed.add(person_id)
    await session.flush()
    return changed


def _dropped(row: Identity, directory: Directory, named: dict[tuple[str, str], str]) -> bool:
    """True when the file owned this address of its entry and names none there now (a binding
    the person made, by invite, stays until the file names another)."""
    if (row.channel, row.address) in named:
        return False
    entry = next(p for p in directory.people if p.id == row.person_id)
    if row.channel not in _FILE_CHANNELS:
        # An account the entry names on that channel now replaces this one; none: it stays.
        return row.channel in entry.addresses
    file_value = entry.phone if row.channel == "sms" else entry.telegram_id
    return file_value is not None or (row.source == "directory" and row.channel == "sms")


async def _hand_over(session: AsyncSession, stray: Person, owner_id: str) -> None:
    """A resident met on a channel turns out to be a directory person: their cases move over."""
    query = select(Case).where(col(Case.resident_id) == stray.id)
    for case in (await session.exec(query)).all():
        case.resident_id = owner_id
        session.add(case)
    stray.active = False
    session.add(stray)
