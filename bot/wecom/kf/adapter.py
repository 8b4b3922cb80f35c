"""The WeChat customer-service channel (微信客服) for residents: the callback, the pull of its
messages, the sender within WeChat's reply window; buttons as menus, no edits, no photos."""

from __future__ import annotations

from starlette.routing import Route

from bot.adapter import Wired, Wiring
from bot.config import Settings
from bot.delivery.pacing import Limits
from bot.services.unit.traits import ChannelTraits

TRAITS = ChannelTraits("wechat", id_prefix="wx")
TIMEOUT_SECONDS = 15.0
# WeCom names no per-second limit for customer service; a resident's messages go a little apart
# so that a menu arrives after the text before it.
PACING = Limits(per_second=20.0, chat_interval=0.2)


class WeChatKfAdapter:
    """WeChat customer service, on when the corp, its secret and callback keys are set."""

    traits = TRAITS

    def enabled(self, settings: Settings) -> bool:
        """On with customer service's credentials."""
        return settings.wechat_kf_enabled

    def wire(self, setup: Wiring) -> Wired:
        """The callback route, the puller, the sender."""
        import httpx

        from bot import processes
        from bot.wecom.client import WeComClient
        from bot.wecom.crypto import CallbackCrypto

        from .callback import PATH, KfCallback
        from .inbound import KfInbound
        from .pull import Puller
        from .sender import KfSender, Welcomes

        settings, ctx = setup.settings, setup.ctx
        corp = settings.wecom_corp_id
        secret, token, key = (
            settings.wechat_kf_secret,
            settings.wechat_kf_token,
            settings.wechat_kf_aes_key,
        )
        assert corp is not None
        assert secret is not None
        assert token is not None
        assert key is not None
        http = httpx.AsyncClient(timeout=TIMEOUT_SECONDS)
        welcomes = Welcomes()
        # Each wiring its own owner in the leases: two stacks of one process are two instances.
        owner = f"{processes.holder_id()[:40]}/{id(welcomes):x}"
        client = WeComClient.shared(
            ctx.db,
            api_url=settings.wecom_api_url,
            corp_id=corp,
            secret=secret.get_secret_value(),
            http=http,
            owner=owner,
        )
        puller = Puller(ctx, client, KfInbound(ctx, welcomes), owner=owner, kick=setup.kick)
        crypto = CallbackCrypto.of(
            token.get_secret_value(), key.get_secret_value(), corp, max_age=600
        )
        hook = KfCallback(crypto, puller)

        async def close() -> None:
            await http.aclose()

        return Wired(
            routes=[
                Route(PATH, hook.verify, methods=["GET"]),
                Route(PATH, hook.receive, methods=["POST"]),
            ],
            sender=KfSender(ctx, client, welcomes),
            pacing=setup.pacing or PACING,
            quiet="ignore",  # a resident writing at night is answered at night
            start=puller.start,
            stop=puller.stop,
            close=close,
            handle=puller,
        )
