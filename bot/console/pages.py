"""The console's pages: the case list (and its live fragment), one case — its story in sentences,
what it sent to whom, its actions (the likely next first, a refusal said beside its form), notes,
reporter (a link to their page, or that they were erased), followers (masked as people are on
the reporter's page) and likely duplicates — the rates. Each asks the services; none decides who
may see what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from bot.services.cases import lifecycle
from bot.services.data.erase import is_erased
from bot.services.staff import case as workplace_case
from bot.services.staff import choosing, listing, replies
from bot.services.staff import rates as workplace_rates
from bot.services.staff.crowd import Follower
from bot.services.staff.stats import Period
from bot.services.unit.context import ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled
from bot.services.unit.reach import localize
from core.cases import Action
from core.texts import render

from . import inline, timeline
from .chart import chart
from .next_step import plan
from .person_view import hidden_in, reporter_url
from .render import message, page
from .session import Reader, Sessions

REFRESH_SECONDS = 5
MAX_REASON = 500


def _age(created: str, now: datetime, language: str) -> str:
    """How long ago a case was reported, in hours or days."""
    hours = int((now - datetime.fromisoformat(created)).total_seconds() // 3600)
    if hours < 48:
        return render(language, "web.age_hours", hours=max(hours, 0))
    return render(language, "web.age_days", days=hours // 24)


@dataclass(frozen=True, slots=True)
class Pages:
    """The console's GET pages and case actions."""

    sessions: Sessions

    def _common(self, reader: Reader, path: str) -> dict[str, Any]:
        return {"reader": reader, "viewer": reader.viewer, "csrf": reader.csrf, "here": path}

    async def cases(self, request: Request) -> Response:
        """``/console/cases``: the list, or (asked by htmx) only its fragment."""
        reader = await self.sessions.needed(request)
        if isinstance(reader, Response):
            return reader
        ctx = self.sessions.ctx
        typed = listing.Filters.parse(dict(request.query_params))
        htmx = request.headers.get("hx-request") == "true"
        # The page's filters and their options; a typed filter read as the id it names. The
        # refresh asks with the ids the page put in its URL.
        offered = None if htmx else await choosing.offered(ctx, reader.viewer, typed)
        filters = offered.filters if offered is not None else typed
        found = await listing.case_page(ctx, reader.viewer, filters, language=reader.language)
        now = ctx.clock()
        for case in found.cases:
            case["age"] = _age(case["created_at"], now, reader.language)
            waiting = case["status"] in ("unassigned", "assigned")
            case["deadline"] = case["ack_due_at"] if waiting else case["resolve_due_at"]
        query = urlencode(filters.query())
        values = {
            **self._common(reader, f"/console/cases?{query}" if query else "/console/cases"),
            "page": found,
            "filters": filters,
            "query": query,
            "refresh": REFRESH_SECONDS,
            # The pages around this one by the keys of its first and last rows; the first page by
            # no key at all (its newest cases, whatever came in since).
            "prev_query": urlencode(
                filters.query(page=1, after="", before="")
                if found.page <= 2
                else filters.query(page=found.page - 1, after="", before=found.before)
            ),
            "next_query": urlencode(
                filters.query(page=found.page + 1, after=found.after, before="")
            ),
        }
        if offered is None:
            return page("_list.html", language=reader.language, **values)
        return page("cases.html", language=reader.language, choices=offered, typed=typed, **values)

    async def case(self, request: Request) -> Response:
        """``/console/cases/<n>``."""
        reader = await self.sessions.needed(request)
        if isinstance(reader, Response):
            return reader
        return await self.show_case(reader, request.path_params["number"])

    async def show_case(
        self,
        reader: Reader,
        number: int,
        *,
        refusal: str = "",
        slot: str = "",
        status_code: int = 200,
    ) -> Response:
        """Case ``number`` as ``reader`` may see it (with why their last form, the one of answer
        ``slot``, changed nothing), or 404."""
        try:
            view = await workplace_case.case_view(self.sessions.ctx, reader.viewer, number)
        except workplace_case.NotVisible:
            return message("web.not_found", language=reader.language, status_code=404)
        ctx = self.sessions.ctx
        language, now = reader.language, ctx.clock()
        steps = plan(view.case, view.actions, may_merge=view.may_merge, now=now, language=language)
        return page(
            "case.html",
            language=reader.language,
            status_code=status_code,
            view=view,
            c=view.case,
            refusal=refusal,
            refused=slot,
            # the category's saved replies per action, which the forms' partial offers
            reply_templates=await replies.offered(
                ctx, category_id=view.case["category"], language=language
            ),
            placed=slot in _slots(view, steps.order),  # else the refusal is said at the top
            steps=steps,
            story=timeline.entries(view.case["events"], view.people, language),
            sent=timeline.lines(view.sent, view.people, language),
            channel=lambda name: timeline.channel_name(name, language),
            reporter_erased=is_erased(view.case["resident"]),
            # Staff see the reporters of their communities' cases (person_view.reporter_view).
            reporter_url=reporter_url(number) if reader.viewer.role == "staff" else "",
            erased=is_erased,  # an erased actor of the timeline is named as such
            who=_who,
            now=now,  # how long ago each likely duplicate was reported
            form_id=inline.form_id(),  # the same form sent twice acts once
            **self._common(reader, f"/console/cases/{number}"),
        )

    async def act(self, request: Request) -> Response:
        """POST ``/console/cases/<n>/act``: one of the bot's actions, or why it was refused."""
        posted = await self.sessions.posted(request)
        if isinstance(posted, Response):
            return posted
        reader, form = posted
        number: int = request.path_params["number"]
        given = {k: v for k, v in form.items() if isinstance(v, str)}
        slot = inline.slot_of(given.get("slot")) or inline.slot_of(given.get("action"))
        ctx = self.sessions.ctx
        try:
            # Whether the case is theirs first: a bad form says nothing of a case they may not see.
            await workplace_case.check_visible(ctx, reader.viewer, number)
            # A chosen saved reply becomes the note the resident receives, in their language.
            fields = await replies.with_template(ctx, number=number, fields=given)
            request_ = _request_of(fields) if fields is not None else None
            if request_ is None:
                bad = render(reader.language, "web.bad_form")
                return await self.refuse(request, reader, number, bad, slot, status_code=400)
            await workplace_case.act_on_case(
                ctx, reader.viewer, number=number, request=request_, form_id=given.get("form", "")
            )
        except workplace_case.NotVisible:
            return message("web.not_found", language=reader.language, status_code=404)
        except AlreadyHandled:
            pass  # the same form sent again: done once already
        except ServiceRefusal as refused:
            why = said(refused, reader.language)
            return await self.refuse(request, reader, number, why, slot, status_code=409)
        self.sessions.kick()  # the cards and messages of the change go out now
        return inline.done(request, f"/console/cases/{number}")

    async def refuse(
        self,
        request: Request,
        reader: Reader,
        number: int,
        refusal: str,
        slot: str,
        *,
        status_code: int,
    ) -> Response:
        """Why a form of case ``number``'s page changed nothing, beside that form: in its slot
        (htmx), or on the page shown again."""
        if inline.by_htmx(request):
            return inline.refused_here(reader.language, refusal, slot)
        return await self.show_case(
            reader, number, refusal=refusal, slot=slot, status_code=status_code
        )

    async def note(self, request: Request) -> Response:
        """POST ``/console/cases/<n>/note``: an internal note."""
        posted = await self.sessions.posted(request)
        if isinstance(posted, Response):
            return posted
        reader, form = posted
        number: int = request.path_params["number"]
        text = form.get("note")
        try:
            await workplace_case.add_note(
                self.sessions.ctx,
                reader.viewer,
                number=number,
                text=text if isinstance(text, str) else "",
            )
        except workplace_case.NotVisible:
            return message("web.not_found", language=reader.language, status_code=404)
        except ServiceRefusal as refused:
            why = said(refused, reader.language)
            return await self.refuse(request, reader, number, why, "note", status_code=409)
        return inline.done(request, f"/console/cases/{number}")

    async def rates(self, request: Request) -> Response:
        """``/console/rates``: this month, last month, a chosen range, and 30 days as charts."""
        reader = await self.sessions.needed(request)
        if isinstance(reader, Response):
            return reader
        ctx = self.sessions.ctx
        communities = await workplace_rates.communities_of(ctx, reader.viewer)
        this_month, last_month = await workplace_rates.standard_periods(ctx)
        chosen = Period(
            listing.Filters.parse(dict(request.query_params)).since,
            listing.Filters.parse(dict(request.query_params)).until,
        )
        periods = [
            ("web.this_month", await workplace_rates.period_rates(ctx, communities, this_month)),
            ("web.last_month", await workplace_rates.period_rates(ctx, communities, last_month)),
            ("web.chosen_range", await workplace_rates.period_rates(ctx, communities, chosen)),
        ]
        days = await workplace_rates.daily(ctx, communities)
        charts = [
            chart(render(reader.language, f"chart.{name}"), days, attribute)
            for name, attribute in (
                ("response", "response_rate"),
                ("resolution", "resolution_rate"),
                ("satisfaction", "satisfaction_rate"),
            )
        ]
        names = await choosing.community_names(ctx, reader.viewer, reader.language)
        # The holders these rates show by id, named — not the filter's list, which is narrower.
        shown = {key for _, rates in periods for key in rates.by_holder}
        names.update(await listing.names_of(ctx, shown))
        return page(
            "rates.html",
            language=reader.language,
            names=names,
            periods=periods,
            chosen=chosen,
            charts=charts,
            **self._common(reader, "/console/rates"),
        )


def _slots(view: workplace_case.CaseView, order: tuple[str, ...]) -> set[str]:
    """The answer slots of the forms a case page shows (a refusal is said in its form's)."""
    shown = {*order, "note", *(f"likely-{s.number}" for s in view.likely)}
    if view.may_unmerge:
        shown.add("unmerge")
    if not view.managers:
        shown.discard("reassign")  # a sentence saying there is nobody, not a form
    return shown


def _who(follower: Follower) -> str:
    """A follower's name as the console shows people: their addresses in it masked."""
    return hidden_in(follower.name, follower.addresses)


def case_number(text: str) -> int | None:
    """A case number a form gives ("12" or "#12"); None for anything else."""
    digits = text.strip().lstrip("#")
    if digits.isascii() and digits.isdigit() and 0 < len(digits) < 10:
        return int(digits)
    return None


def said(refused: ServiceRefusal, language: str) -> str:
    """A refusal in the reader's words."""
    params = {k: localize(v, language) for k, v in refused.params.items()}
    return render(language, refused.reason, **params)


def _request_of(fields: dict[str, str]) -> lifecycle.Request | None:
    """The use case's request a console form asks for; None for a form that makes no sense."""
    try:
        action = Action(fields.get("action", ""))
    except ValueError:
        return None
    reason = fields.get("reason", "")[:MAX_REASON]
    match action:
        case Action.ACKNOWLEDGE:
            return lifecycle.Request(action)
        case Action.RESOLVE | Action.DECLINE | Action.CLOSE | Action.ASK:
            return lifecycle.Request(action, note=reason)
        case Action.REASSIGN:
            manager = fields.get("manager", "")
            return lifecycle.Request(action, manager_id=manager, note=reason) if manager else None
        case Action.REJECT:  # with the number of its original, a merge (as in the bot)
            original = fields.get("duplicate_of", "")
            duplicate = case_number(original) if original.strip() else None
            if original.strip() and duplicate is None:
                return None
            return lifecycle.Request(action, note=reason, duplicate_of=duplicate)
    return None
