"""Renewing the device token before the server lets it expire, without the user noticing.

The server says when to renew (GET /v1/token: `renew_in`, by its own clock, so a wrong clock here does not
matter); the renewer asks at start and then every CHECK_S (the operator may change the lifetime), renews once the
time has come (POST /v1/token/renew), stores the new token where `ferry login` keeps it and only then switches the
client to it. The server keeps accepting the old token for a grace period, so a lost answer or a keyring that
refuses the write is retried (every RETRY_S) instead of locking the device out. A server that does not expire
tokens answers `renew_in: null`, and nothing more happens until the next check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ferrysync.daemon.credentials import CredentialsError
from ferrysync.daemon.remote import NotFound, RemoteClient, RemoteError

log = logging.getLogger(__name__)

CHECK_S = 3600.0
RETRY_S = 30.0


class TokenRenewer:
    def __init__(self, client: RemoteClient, install: Callable[[str, str], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`install(old_token, new_token)` stores the new token and switches to it; False when the login changed
        meanwhile (the renewed token is then dropped: the new login wins)."""
        self.client = client
        self._install = install
        self._clock = clock
        self._next_check = 0.0
        self._renew_at: float | None = None

    def tick(self) -> None:
        """Called often (the engine's status loop); talks to the server only when a check or renewal is due."""
        now = self._clock()
        try:
            if now >= self._next_check:
                self._next_check = now + CHECK_S
                self._schedule(now, self.client.token_info().renew_in)
            if self._renew_at is not None and now >= self._renew_at:
                self._renew(now)
        except NotFound:  # a server from before token expiry: nothing to renew
            self._renew_at = None
        except (RemoteError, OSError) as exc:
            log.info("device token check failed (%s); trying again in %.0f s", exc, RETRY_S)
            self._next_check = min(self._next_check, now + RETRY_S)

    def _schedule(self, now: float, renew_in: float | None) -> None:
        self._renew_at = None if renew_in is None else now + renew_in

    def _renew(self, now: float) -> None:
        old = self.client.token
        result = self.client.renew_token()
        try:
            installed = old is not None and self._install(old, result.token)
        except CredentialsError as exc:
            # The server still takes the old token for a while: keep it and renew again shortly.
            log.warning("the renewed device token could not be stored (%s); trying again in %.0f s", exc, RETRY_S)
            self._renew_at = now + RETRY_S
            return
        if not installed:
            self._next_check = now  # another login replaced ours meanwhile: look at its token next
            return
        if installed:
            log.info("device token renewed%s", f"; it now expires {result.expires_at:%Y-%m-%d %H:%M} UTC"
                     if result.expires_at else "")
        self._schedule(now, result.renew_in)
