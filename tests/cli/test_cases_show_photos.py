"""``cases show`` tells of a case's photos: ``--json`` lists them (never their bytes), the table
says how many."""

from __future__ import annotations

from bot.services.cases.photos import NewPhoto
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from tests.cli.conftest import Cli
from tests.conftest import Clock

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


def test_show_lists_the_photos(loaded_cli: Cli, clock: Clock) -> None:
    async def file(ctx: ServiceContext) -> int:
        photos = (
            NewPhoto(source="telegram", file_id="AgACAgUAAxkBAAI"),
            NewPhoto(source="sms", content=PNG, content_type="image/png"),
        )
        new = NewReport("jzsj-south", "parcels", "快递堆满了楼道", photos=photos)
        case = await report(ctx, resident_id="r-jzsj-172", channel="telegram", new=new)
        assert case.number is not None
        return case.number

    number = loaded_cli.services(clock, file)
    shown = loaded_cli.json("cases", "show", str(number))
    assert shown["photos"] == [
        {
            "position": 0,
            "kind": "telegram_file",
            "source": "telegram",
            "content_type": "image/jpeg",
            "size": None,
        },
        {
            "position": 1,
            "kind": "stored",
            "source": "sms",
            "content_type": "image/png",
            "size": 108,
        },
    ]
    table = loaded_cli("cases", "show", str(number))
    assert table.code == 0
    rows = table.out.split("\n\n")[0].splitlines()[2:]  # the header and its rule left out
    head = {line.split()[0]: line.split()[1:] for line in rows}
    assert head["照片"] == ["2"]


def test_a_case_without_photos_lists_none(loaded_cli: Cli, clock: Clock) -> None:
    async def file(ctx: ServiceContext) -> int:
        new = NewReport("jzsj-south", "parcels", "快递堆在门口")
        case = await report(ctx, resident_id="r-jzsj-172", channel="telegram", new=new)
        assert case.number is not None
        return case.number

    number = loaded_cli.services(clock, file)
    assert loaded_cli.json("cases", "show", str(number))["photos"] == []
