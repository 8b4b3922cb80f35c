"""Chinese texts (the default language)."""

TEXTS: dict[str, str] = {
    # statuses, ratings, roles
    "status.unassigned": "待指派",
    "status.assigned": "已派单",
    "status.acknowledged": "处理中",
    "status.resolved": "待评价",
    "status.closed": "已办结",
    "status.cancelled": "已撤回",
    "status.rejected": "不予受理",
    "rating.satisfied": "满意",
    "rating.basically_satisfied": "基本满意",
    "rating.dissatisfied": "不满意",
    "role.resident": "居民",
    "role.manager": "物业负责人",
    "role.supervisor": "物业主管",
    "role.staff": "社区工作人员",
    # buttons
    "button.ack": "✅ 接单",
    "button.done": "🛠 已办好",
    "button.decline": "↩️ 非我负责",
    "button.cancel": "撤回诉求",
    "button.reassign": "改派",
    "button.reject": "不予受理",
    "button.close": "直接办结",
    "button.rate.1": "😊 满意",
    "button.rate.2": "🙂 基本满意",
    "button.rate.3": "😞 不满意",
    # what people are told about a case
    "case.received": (
        "已收到您的诉求 #{number}（{category}，{community}）。\n"
        "我们已转交负责人处理，每一步都会告诉您。"
    ),
    "case.card": (
        "📋 新诉求 #{number}\n类别：{category}\n社区：{community}\n位置：{location}\n"
        "内容：{description}\n请于 {ack_due} 前接单，{resolve_due} 前办好。"
    ),
    "case.unrouted": (
        "⚠️ 诉求 #{number}（{category}，{community}）没有对应的负责人，请指派。\n"
        "位置：{location}\n内容：{description}"
    ),
    "case.acknowledged": "您的诉求 #{number} 已有负责人接单，正在处理。",
    "case.resolved": "负责人表示诉求 #{number} 已办好。请您评价：",
    "case.declined": (
        "↩️ 负责人表示诉求 #{number}（{category}，{community}）不归其负责，请改派。\n"
        "说明：{note}\n内容：{description}"
    ),
    "case.rated": "诉求 #{number} 的居民评价：{rating}。",
    "case.closed": "诉求 #{number} 已办结，感谢您的评价（{rating}）。",
    "case.reopened_resident": "诉求 #{number} 已重新交办，并升级至{level}跟进。",
    "case.reopened": (
        "🔁 居民对诉求 #{number} 的处理不满意，已重新交办（重办）。\n原因：{note}\n"
        "位置：{location}\n内容：{description}"
    ),
    "case.escalated": (
        "⏫ 诉求 #{number}（{category}，{community}）已升级至您（{level}）跟进。\n"
        "状态：{status}\n位置：{location}\n内容：{description}"
    ),
    "case.escalated_resident": "您的诉求 #{number} 已升级至{level}跟进。",
    "case.reminder": "⏰ 提醒：诉求 #{number}（{category}，{community}）仍为「{status}」，请尽快处理。",
    "case.withdrawn": "诉求 #{number} 已不再由您负责（当前状态：{status}）。",
    "case.reassigned_resident": "您的诉求 #{number} 已由社区改派给新的负责人。",
    "case.rejected": "很抱歉，诉求 #{number} 不予受理。原因：{note}（重复诉求原单：#{original}）",
    "case.closed_by_staff": "诉求 #{number} 已由社区工作人员办结。说明：{note}",
    "case.cancelled": "诉求 #{number} 已撤回。",
    "case.cancelled_manager": "居民已撤回诉求 #{number}，无需再处理。",
    "case.closed_unrated": "诉求 #{number} 已办结（您未作评价）。如仍有问题，欢迎再次反映。",
    # refusals: why nothing changed
    "refused.not_entitled": "您无权对该诉求进行此操作。",
    "refused.closed": "诉求 #{number} 已结束（{status}），无法再操作。",
    "refused.wrong_status": "诉求 #{number} 当前为「{status}」，不能进行此操作。",
    "refused.rating_missing": "请选择评价：满意、基本满意或不满意。",
    "refused.chain_top": "诉求 #{number} 已升级至最高一级。",
    "refused.manager_missing": "请指定新的负责人。",
    "refused.same_manager": "诉求 #{number} 已由该负责人处理。",
    "refused.no_such_case": "没有找到诉求 #{number}。",
    "refused.unknown_manager": "没有名为 {manager} 的负责人。",
    "refused.unknown_original": "没有找到原诉求 #{original}。",
    "refused.reason_missing": "请说明原因。",
    "refused.empty_description": "请描述遇到的问题。",
    "refused.unknown_community": "没有找到社区 {community}。",
    "refused.unknown_category": "没有找到类别 {category}。",
    "refused.unknown_person": "没有找到人员 {person}。",
    # the command line
    "cli.directory_ok": "{file}：目录有效（{communities} 个社区，{people} 人，{categories} 个类别，{routes} 条派单规则）。",
    "cli.directory_loaded": "{file}：已载入（新增 {added}，更新 {updated}，停用 {deactivated}，删除 {deleted}）。",
    "cli.directory_unchanged": "{file}：已载入，没有变化。",
    "cli.no_such_case": "没有找到诉求 #{number}。",
    "cli.no_cases": "没有符合条件的诉求。",
    "cli.outbox_empty": "发件箱为空。",
    "cli.outbox_dead_empty": "没有放弃发送的消息。",
    "cli.upgraded": "数据库已升级到最新版本（{revision}）。",
    "cli.schema_old": "数据库结构不是最新版本：请先运行 `wolaiban db upgrade`。",
    "cli.invite": "{name}（{person}）的邀请链接，仅可使用一次，{expires} 前有效：",
    "cli.invite_needs_bot": "TELEGRAM_BOT_TOKEN：生成邀请链接需要机器人令牌（用于读取机器人用户名）。",
    "cli.telegram_unreachable": "TELEGRAM_API_URL：无法连接 Telegram（{error}）。",
    "cli.serving": "Wolaiban 正在运行：http://{host}:{port}（按 Ctrl+C 停止）",
    "cli.rates_title": "三率（{period}）",
    "cli.period_all": "全部时间",
    "cli.events": "记录",
    "col.number": "编号",
    "col.status": "状态",
    "col.community": "社区",
    "col.category": "类别",
    "col.manager": "负责人",
    "col.created": "反映时间",
    "col.location": "位置",
    "col.key": "分组",
    "col.cases": "诉求数",
    "col.response": "响应率",
    "col.resolution": "解决率",
    "col.satisfaction": "满意率",
    "col.at": "时间",
    "col.kind": "事项",
    "col.actor": "操作人",
    "col.channel": "渠道",
    "col.note": "说明",
    "col.id": "编号",
    "col.to": "收件人",
    "col.template": "消息",
    "col.attempts": "尝试次数",
    "col.next": "下次尝试",
    "col.error": "原因",
    "demo.failed": "演示：{community} 的故事没有以办结告终。",
}
