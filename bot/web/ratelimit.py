"""Rate limits of the sign-in form: per address and per client, a moving window in memory.

The client is the peer address of the connection (``request.remote``), never a header such
as ``X-Forwarded-For`` that the client itself may write. Behind a reverse proxy every
request seems to come from the proxy, so the per-client limit then applies to all users
together; the per-address limit still protects each address.
"""

from __future__ import annotations

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


class SigninLimits:
    """``await allow(address, client)``: False when either has asked too often."""

    def __init__(self, count: int, minutes: int) -> None:
        self.item = RateLimitItemPerMinute(count, minutes)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def allow(self, address: str, client: str) -> bool:
        by_address = await self.limiter.test(self.item, "signin-address", address)
        by_client = await self.limiter.test(self.item, "signin-client", client)
        if not (by_address and by_client):
            return False
        await self.limiter.hit(self.item, "signin-address", address)
        await self.limiter.hit(self.item, "signin-client", client)
        return True
