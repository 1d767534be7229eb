"""`ferry-server` options and commands of the login throttle, the hashing pool and device tokens
(kept apart from cli.py so the command table there stays a table)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ferrysync.server.cli_types import COUNT, NON_NEGATIVE, NON_NEGATIVE_INT
from ferrysync.server.limits import (
    DEFAULT_ADDRESS_FREE_FAILURES,
    DEFAULT_HASH_QUEUE,
    DEFAULT_HASH_SLOTS,
    DEFAULT_LOGIN_DELAY_STEPS,
    DEFAULT_LOGIN_FREE_FAILURES,
    DEFAULT_LOGIN_LOCKOUT_S,
    DEFAULT_SHARE_ADDRESS_RATE,
    DEFAULT_SHARE_LINK_RATE,
    DEFAULT_TOKEN_TTL_DAYS,
)
from ferrysync.server.store.sql import SqlMetaStore


def auth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--login-free-failures", type=NON_NEGATIVE_INT, default=DEFAULT_LOGIN_FREE_FAILURES, metavar="N",
                   help="failed logins an account may have before each further one locks it for 1 s, 2 s, 4 s… "
                   "(default: %(default)s)")
    p.add_argument("--login-address-free-failures", type=NON_NEGATIVE_INT, default=DEFAULT_ADDRESS_FREE_FAILURES,
                   metavar="N",
                   help="the same for one client address (IPv6: one /64) over all accounts (default: %(default)s)")
    p.add_argument("--login-delay-steps", type=NON_NEGATIVE_INT, default=DEFAULT_LOGIN_DELAY_STEPS, metavar="N",
                   help="failures past the free ones that lock for 1 s, 2 s, 4 s…; the next one locks for "
                   "--login-lockout (default: %(default)s)")
    p.add_argument("--login-lockout", type=NON_NEGATIVE, default=DEFAULT_LOGIN_LOCKOUT_S, metavar="SECONDS",
                   help="how long repeated failures lock an account or address out (default: %(default)s)")
    p.add_argument("--hash-slots", type=COUNT, default=DEFAULT_HASH_SLOTS, metavar="N",
                   help="password hashes computed at once (64 MiB each) (default: %(default)s)")
    p.add_argument("--hash-queue", type=NON_NEGATIVE_INT, default=DEFAULT_HASH_QUEUE, metavar="N",
                   help="logins that may wait for a hashing slot; more get 503 (default: %(default)s)")
    p.add_argument("--token-ttl-days", type=NON_NEGATIVE, default=DEFAULT_TOKEN_TTL_DAYS, metavar="DAYS",
                   help="device tokens expire this long after login or their last renewal; running daemons renew "
                   "theirs silently (default: %(default)s = never)")
    p.add_argument("--share-link-rate", type=COUNT, default=DEFAULT_SHARE_LINK_RATE, metavar="N",
                   help="downloads per minute through one share link (default: %(default)s)")
    p.add_argument("--share-address-rate", type=COUNT, default=DEFAULT_SHARE_ADDRESS_RATE, metavar="N",
                   help="downloads per minute through share links from one client address (default: %(default)s)")


def auth_config(args: argparse.Namespace) -> dict[str, Any]:
    """ServerConfig fields from auth_args (commands without those options get the defaults)."""
    if not hasattr(args, "login_free_failures"):
        return {}
    return {"login_free_failures": args.login_free_failures,
            "address_free_failures": args.login_address_free_failures, "login_lockout_s": args.login_lockout,
            "login_delay_steps": args.login_delay_steps,
            "hash_slots": args.hash_slots, "hash_queue": args.hash_queue, "token_ttl_days": args.token_ttl_days,
            "share_link_rate": args.share_link_rate, "share_address_rate": args.share_address_rate}


def throttle_parser(sub: Any, store_args: Any) -> None:
    throttle = sub.add_parser("throttle", help="the login throttle: who is locked out, and unlocking them") \
        .add_subparsers(dest="action", required=True)
    store_args(throttle.add_parser("list", help="accounts and addresses with recent failed logins"))
    unlock = throttle.add_parser("unlock", help="clear the failed logins of an account or a client address")
    which = unlock.add_mutually_exclusive_group(required=True)
    which.add_argument("--user", help="an account name")
    which.add_argument("--address", help="a client address (an IPv6 address stands for its /64)")
    store_args(unlock)


def cmd_throttle(store: SqlMetaStore, args: argparse.Namespace) -> int:
    from ferrysync.server.routes.common import iso
    from ferrysync.server.store.rows import now_ms
    from ferrysync.server.throttle import account_key, normalize_address

    if args.action == "list":
        now = now_ms()
        for lock in store.login_locks():
            state = f"locked until {iso(lock.locked_until)}" if lock.locked_until > now else "not locked"
            print(f"{lock.key}\t{lock.failures} failure(s), last {iso(lock.last_failure)}\t{state}")
        return 0
    return unlock(store, account_key(args.user) if args.user else normalize_address(args.address))


def unlock(store: SqlMetaStore, key: str) -> int:
    if store.clear_login_failures([key]):
        print(f"unlocked {key} (its failed logins are forgotten)")
    else:
        print(f"{key} had no failed logins")
    return 0


def cmd_user_unlock(store: SqlMetaStore, name: str) -> int:
    from ferrysync.server.throttle import account_key

    if store.get_user(name) is None:
        print(f"ferry-server: no user {name!r}", file=sys.stderr)
        return 1
    return unlock(store, account_key(name))
