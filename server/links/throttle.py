"""Rate limits on share links: downloads per link and per client address, password attempts per link and per
address, each counted in fixed one-minute windows in the metadata database (store/shares.py `hit`), so several
server processes on one PostgreSQL database count together.

A fixed window lets a burst of up to twice the rate straddle a window boundary; for "a link posted on a forum
must not serve the whole internet" and "a password cannot be guessed quickly" that is close enough, and it costs
one upsert per request. Client addresses are keyed as the login throttle keys them (throttle.address_key:
IPv6 by its /64, loopback not at all, since behind a local reverse proxy every visitor would share it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ferrysync.server.config import ServerConfig
from ferrysync.server.limits import SHARE_PASSWORD_TRIES, SHARE_WINDOW_S
from ferrysync.server.store.base import MetaStore
from ferrysync.server.store.rows import now_ms
from ferrysync.server.throttle import address_key

WINDOW_MS = SHARE_WINDOW_S * 1000


@dataclass(frozen=True)
class LinkThrottle:
    meta: MetaStore
    link_rate: int
    address_rate: int
    password_tries: int = SHARE_PASSWORD_TRIES

    @classmethod
    def of(cls, meta: MetaStore, config: ServerConfig) -> LinkThrottle:
        return cls(meta, config.share_link_rate, config.share_address_rate)

    def download(self, share_id: str, host: str | None) -> int:
        """Count a download; 0 when it may go ahead, else the seconds until the window ends (answer 429)."""
        return self._count("dl", share_id, host, self.link_rate, self.address_rate)

    def password_attempt(self, share_id: str, host: str | None) -> int:
        """Count a password attempt (right or wrong: a guesser is limited by attempts, not by failures)."""
        return self._count("pw", share_id, host, self.password_tries, self.password_tries)

    def _count(self, what: str, share_id: str, host: str | None, per_link: int, per_address: int) -> int:
        now = now_ms()
        window = now - now % WINDOW_MS
        keys = [(f"{what}:link:{share_id}", per_link)]
        addr = address_key(host)
        if addr is not None:
            keys.append((f"{what}:{addr}", per_address))
        over = False
        for key, limit in keys:
            over = self.meta.share_hit(key, window) > limit or over
        return max(1, math.ceil((window + WINDOW_MS - now) / 1000)) if over else 0
