"""English texts."""

TEXTS: dict[str, str] = {
    # statuses, ratings, roles
    "status.unassigned": "unassigned",
    "status.assigned": "assigned",
    "status.acknowledged": "in progress",
    "status.resolved": "waiting for your rating",
    "status.closed": "closed",
    "status.cancelled": "cancelled",
    "status.rejected": "rejected",
    "rating.satisfied": "satisfied",
    "rating.basically_satisfied": "basically satisfied",
    "rating.dissatisfied": "not satisfied",
    "role.resident": "resident",
    "role.manager": "property manager",
    "role.supervisor": "property supervisor",
    "role.staff": "community staff",
    # buttons
    "button.ack": "✅ Acknowledge",
    "button.done": "🛠 Done",
    "button.decline": "↩️ Not mine",
    "button.cancel": "Withdraw",
    "button.reassign": "Reassign",
    "button.reject": "Reject",
    "button.close": "Close",
    "button.rate.1": "😊 Satisfied",
    "button.rate.2": "🙂 Basically satisfied",
    "button.rate.3": "😞 Not satisfied",
    # what people are told about a case
    "case.received": (
        "We received your report #{number} ({category}, {community}).\n"
        "It is on its way to the person responsible; we will tell you of every step."
    ),
    "case.card": (
        "📋 New case #{number}\nCategory: {category}\nCommunity: {community}\n"
        "Location: {location}\nDescription: {description}\n"
        "Acknowledge by {ack_due}, fix by {resolve_due}."
    ),
    "case.unrouted": (
        "⚠️ Case #{number} ({category}, {community}) has no one responsible; please assign it.\n"
        "Location: {location}\nDescription: {description}"
    ),
    "case.acknowledged": "Your report #{number} has been taken on and is being handled.",
    "case.resolved": "The manager says #{number} is fixed. Please rate the result:",
    "case.declined": (
        "↩️ The manager says case #{number} ({category}, {community}) is not theirs; "
        "please reassign it.\nNote: {note}\nDescription: {description}"
    ),
    "case.rated": "The resident rated case #{number}: {rating}.",
    "case.closed": "Case #{number} is closed. Thank you for your rating ({rating}).",
    "case.reopened_resident": "Case #{number} has been reopened and escalated to the {level}.",
    "case.reopened": (
        "🔁 The resident is not satisfied with case #{number}; it is reopened.\n"
        "Reason: {note}\nLocation: {location}\nDescription: {description}"
    ),
    "case.escalated": (
        "⏫ Case #{number} ({category}, {community}) is escalated to you ({level}).\n"
        "Status: {status}\nLocation: {location}\nDescription: {description}"
    ),
    "case.escalated_resident": "Your report #{number} has been escalated to the {level}.",
    "case.reminder": (
        "⏰ Reminder: case #{number} ({category}, {community}) is still {status}; please act on it."
    ),
    "case.withdrawn": "Case #{number} is no longer yours (now {status}).",
    "case.reassigned_resident": "Your report #{number} has been given to another manager.",
    "case.rejected": (
        "Sorry, report #{number} was rejected. Reason: {note} (duplicate of: #{original})"
    ),
    "case.closed_by_staff": "Case #{number} was closed by community staff. Note: {note}",
    "case.cancelled": "Report #{number} is withdrawn.",
    "case.cancelled_manager": "The resident withdrew case #{number}; nothing more to do.",
    "case.closed_unrated": (
        "Case #{number} is closed (not rated). If the problem remains, please report again."
    ),
    # refusals: why nothing changed
    "refused.not_entitled": "You may not do that on this case.",
    "refused.closed": "Case #{number} has ended ({status}); nothing more can be done.",
    "refused.wrong_status": "Case #{number} is {status}; that cannot be done now.",
    "refused.rating_missing": "Please choose a rating: satisfied, basically satisfied or not.",
    "refused.chain_top": "Case #{number} is already at the top of the escalation chain.",
    "refused.manager_missing": "Please name the new manager.",
    "refused.same_manager": "Case #{number} is already with that manager.",
    "refused.no_such_case": "There is no case #{number}.",
    "refused.unknown_manager": "There is no manager {manager}.",
    "refused.unknown_original": "There is no original case #{original}.",
    "refused.reason_missing": "Please give a reason.",
    "refused.empty_description": "Please describe the problem.",
    "refused.unknown_community": "There is no community {community}.",
    "refused.unknown_category": "There is no category {category}.",
    "refused.unknown_person": "There is no person {person}.",
    # the command line
    "cli.directory_ok": "{file}: the directory is valid ({communities} communities, {people} people, {categories} categories, {routes} routing rules).",
    "cli.directory_loaded": "{file}: loaded ({added} added, {updated} updated, {deactivated} deactivated, {deleted} deleted).",
    "cli.directory_unchanged": "{file}: loaded; nothing changed.",
    "cli.no_such_case": "There is no case #{number}.",
    "cli.no_cases": "No cases match.",
    "cli.outbox_empty": "The outbox is empty.",
    "cli.outbox_dead_empty": "No message has been given up on.",
    "cli.upgraded": "The database is at the newest schema ({revision}).",
    "cli.schema_old": "The database schema is out of date: run `wolaiban db upgrade` first.",
    "cli.invite": "Invite link for {name} ({person}); it works once, until {expires}:",
    "cli.invite_needs_bot": "TELEGRAM_BOT_TOKEN: an invite link needs the bot's token (to read the bot's username).",
    "cli.telegram_unreachable": "TELEGRAM_API_URL: cannot reach Telegram ({error}).",
    "cli.serving": "Wolaiban is running on http://{host}:{port} (Ctrl+C stops it)",
    "cli.rates_title": "The three rates ({period})",
    "cli.period_all": "all time",
    "cli.events": "Events",
    "col.number": "#",
    "col.status": "status",
    "col.community": "community",
    "col.category": "category",
    "col.manager": "manager",
    "col.created": "reported",
    "col.location": "location",
    "col.key": "group",
    "col.cases": "cases",
    "col.response": "response",
    "col.resolution": "resolution",
    "col.satisfaction": "satisfaction",
    "col.at": "at",
    "col.kind": "event",
    "col.actor": "by",
    "col.channel": "channel",
    "col.note": "note",
    "col.id": "id",
    "col.to": "to",
    "col.template": "message",
    "col.attempts": "attempts",
    "col.next": "next attempt",
    "col.error": "reason",
    "demo.failed": "demo: the story of {community} did not end closed.",
}
