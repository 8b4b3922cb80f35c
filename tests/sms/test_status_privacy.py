"""A status query by SMS answers only someone with a part in the case."""

from __future__ import annotations

from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from bot.sms.handler import InboundSms, handle_sms
from core.cases import Channel

JZSJ_NUMBER = "+8610690000001"


async def test_only_parties_hear_a_case_s_status(loaded: ServiceContext) -> None:
    case = await report(
        loaded,
        resident_id="r-jzsj-172",
        channel=Channel.SMS,
        new=NewReport("jzsj-south", "parcels", "快递堆在路上"),
    )
    ask = f"查询 #{case.number}"
    # the resident, and the case's own manager (by phone), are told
    mine = await handle_sms(loaded, InboundSms("SM1", "+8613900000001", JZSJ_NUMBER, ask))
    manager = await handle_sms(loaded, InboundSms("SM2", "+8613800000011", JZSJ_NUMBER, ask))
    assert f"#{case.number}" in mine[0]
    assert f"#{case.number}" in manager[0]
    # another community's manager and a stranger are not
    other = await handle_sms(loaded, InboundSms("SM3", "+8613800000012", JZSJ_NUMBER, ask))
    stranger = await handle_sms(loaded, InboundSms("SM4", "+8613900000099", JZSJ_NUMBER, ask))
    assert f"#{case.number}" not in other[0]
    assert f"#{case.number}" not in stranger[0]
    assert "没有找到您的诉求" in stranger[0]
