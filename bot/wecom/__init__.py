"""WeCom (企业微信) for staff and managers, WeChat customer service (微信客服) for residents: the
two adapters this package adds to the registry, staff app first."""

from __future__ import annotations

from bot.adapter import Adapter
from bot.wecom.app.adapter import WeComAdapter
from bot.wecom.kf.adapter import WeChatKfAdapter

ADAPTERS: tuple[Adapter, ...] = (WeComAdapter(), WeChatKfAdapter())
