"""`ferry-server`: run the API server and manage users and devices (operator commands)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from types import FrameType

from sqlalchemy.exc import OperationalError

from ferrysync.server.blocks.local import KINDS
from ferrysync.server.blocks.s3 import StoreUnavailable
from ferrysync.server.cli_auth import (
    auth_args,
    auth_config,
    cmd_throttle,
    cmd_user_unlock,
    throttle_parser,
)
from ferrysync.server.cli_types import COUNT, SECONDS
from ferrysync.server.config import ServerConfig
from ferrysync.server.datadir import DataDirUnsafe, private_umask, secure_data_dir
from ferrysync.server.limits import (
    DEFAULT_GC_GRACE_HOURS,
    DEFAULT_GC_INTERVAL_S,
    DEFAULT_RETENTION_DAYS,
)
from ferrysync.server.store.engine import default_url
from ferrysync.server.store.sql import SqlMetaStore, UserExists
from ferrysync.server.transport import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_KEEP_ALIVE_S,
    DEFAULT_LIMIT_CONCURRENCY,
    DEFAULT_MAX_WAITING,
    TransportLimits,
    guarded_protocol,
)
from ferrysync.server.userrules import parse_quota, valid_user_name

log = logging.getLogger("ferrysync.server")


def fail(message: str, code: int = 1) -> int:
    """Tell the operator what went wrong (on stderr, named like every ferry-server error); return the exit code."""
    print(f"ferry-server: {message}", file=sys.stderr)
    return code


def _store_args(p: argparse.ArgumentParser, blocks: bool = False) -> None:
    p.add_argument("--data", type=Path, help="data directory: the SQLite database and the blocks, unless "
                   "--database-url and --blocks put them elsewhere")
    p.add_argument("--database-url", help="metadata database: postgresql://USER:PASSWORD@HOST/DB (psycopg 3) or a "
                   "SQLAlchemy URL (default: SQLite under --data)")
    if blocks:
        p.add_argument("--blocks", metavar="hybrid|disk|packed|s3://BUCKET/PREFIX",
                       help="where blocks live: under --data, blocks up to 1 MiB in pack files and bigger ones a "
                       "file each (hybrid, the default: also reads data dirs written by disk or packed), only a "
                       "file per block (disk), only pack files (packed); or in S3 (credentials and region the "
                       "usual AWS ways)")
        p.add_argument("--s3-endpoint-url", help="S3 endpoint for S3-compatible stores (or AWS_ENDPOINT_URL)")


def _gc_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retention-days", type=float, default=DEFAULT_RETENTION_DAYS,
                   help="keep old revisions and deleted files this long (default: %(default)s)")
    p.add_argument("--gc-grace-hours", type=float, default=DEFAULT_GC_GRACE_HOURS,
                   help="never collect blocks uploaded or recorded this recently, so uploads not committed yet "
                   "survive (default: %(default)s)")


def _transport_args(p: argparse.ArgumentParser) -> None:
    """How long and how many slow clients may hold connections (server/transport.py; docs/operations.md)."""
    p.add_argument("--header-timeout", type=SECONDS, default=DEFAULT_HEADER_TIMEOUT_S, metavar="SECONDS",
                   help="close a connection whose request headers are not complete this long after it opened or "
                   "its last response ended (default: %(default)s)")
    p.add_argument("--body-timeout", type=SECONDS, default=DEFAULT_BODY_TIMEOUT_S, metavar="SECONDS",
                   help="close a connection whose request body sends nothing for this long (default: %(default)s)")
    p.add_argument("--max-waiting-connections", type=COUNT, default=DEFAULT_MAX_WAITING, metavar="N",
                   help="connections that may wait for their headers at once; past it the oldest is closed "
                   "(default: %(default)s)")
    p.add_argument("--limit-concurrency", type=COUNT, default=DEFAULT_LIMIT_CONCURRENCY, metavar="N",
                   help="answer 503 while this many connections are open (each online device holds one for its "
                   "long-poll; keep it under the open-files limit) (default: %(default)s)")
    p.add_argument("--keep-alive", type=COUNT, default=DEFAULT_KEEP_ALIVE_S, metavar="SECONDS",
                   help="close an idle connection between requests after this long (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferry-server", description="Ferry cloud server")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server in the foreground")
    _store_args(serve, blocks=True)
    _gc_args(serve)
    serve.add_argument("--gc-interval", type=float, default=DEFAULT_GC_INTERVAL_S, metavar="SECONDS",
                       help="run retention and garbage collection at start and this often (default: "
                       "%(default)s; 0: never, e.g. when another process or cron runs `ferry-server gc`)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve HTTPS")
    serve.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log every request")
    _transport_args(serve)
    auth_args(serve)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")
    add.add_argument("--admin", action="store_true", help="may use the web app's admin page")
    add.add_argument("--quota", type=_quota_arg, metavar="SIZE", help="bytes of files the user may hold: 10GiB, "
                     "500MB, none (default: none)")
    _store_args(add)
    _store_args(user.add_parser("list", help="list users with their storage used, quota and admin flag"))
    passwd = user.add_parser("passwd", help="set a user's password (signs their browsers out; devices stay)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")
    _store_args(passwd)
    quota = user.add_parser("quota", help="set a user's quota (bytes of live files) or lift it")
    quota.add_argument("name")
    quota.add_argument("size", type=_quota_arg, help="10GiB, 500MB, 1048576, or none")
    _store_args(quota)
    admin = user.add_parser("admin", help="give or take the web app's admin page")
    admin.add_argument("name")
    admin.add_argument("state", choices=["on", "off"])
    _store_args(admin)
    remove = user.add_parser("remove", help="remove a user and all their files")
    remove.add_argument("name")
    _store_args(remove)
    unlock = user.add_parser("unlock", help="clear an account's failed logins (lift its login lockout)")
    unlock.add_argument("name")
    _store_args(unlock)
    throttle_parser(sub, _store_args)

    gc = sub.add_parser("gc", help="prune old revisions, then delete blocks no kept revision uses")
    _store_args(gc, blocks=True)
    _gc_args(gc)
    gc.add_argument("--dry-run", action="store_true", help="only say what would be removed")

    device = sub.add_parser("device", help="manage a user's devices").add_subparsers(dest="action", required=True)
    dlist = device.add_parser("list", help="list a user's active devices")
    dlist.add_argument("name")
    _store_args(dlist)
    revoke = device.add_parser("revoke", help="revoke a device token")
    revoke.add_argument("device_id")
    _store_args(revoke)
    return parser


def _check_locations(args: argparse.Namespace) -> str | None:
    """An error message when a store has nowhere to live."""
    blocks = getattr(args, "blocks", "s3://")
    if args.data is None and (args.database_url is None or blocks is None or blocks in KINDS):
        return "--data is required unless --database-url (and, for serve and gc, --blocks s3://...) are given"
    if blocks is not None and blocks not in KINDS and not blocks.startswith("s3://"):
        return f"--blocks must be hybrid, disk, packed or an s3://BUCKET/PREFIX URL, not {blocks!r}"
    return None


def _open_store(args: argparse.Namespace) -> SqlMetaStore:
    if args.data is not None:
        secure_data_dir(args.data)
    return SqlMetaStore.from_url(args.database_url or default_url(args.data))


def _config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        data_dir=args.data if args.data is not None else Path.cwd(), database_url=args.database_url,
        retention_days=args.retention_days, gc_interval_s=getattr(args, "gc_interval", 0.0),
        gc_grace_hours=args.gc_grace_hours, blocks_url=args.blocks, s3_endpoint_url=args.s3_endpoint_url,
        **auth_config(args))


def cmd_gc(args: argparse.Namespace) -> int:
    from ferrysync.server.app import open_blocks
    from ferrysync.server.gc import collect

    config = _config(args)
    with closing(_open_store(args)) as store:
        report = collect(store, open_blocks(config), config.retention_ms, config.gc_grace_ms,
                         dry_run=args.dry_run)
    print(report.summary())
    return 0


def _quota_arg(text: str) -> int | None:
    try:
        return parse_quota(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("ferry-server: passwords differ")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    from ferrysync.server.passwords import hash_password

    with closing(_open_store(args)) as store:
        if args.action == "add":
            name = args.name
            if not valid_user_name(name):
                return fail(f"invalid user name {name!r}", 2)
            password = _read_password(args.password_stdin)
            if not password:
                return fail("empty password", 2)
            try:
                store.add_user(name, hash_password(password))
            except UserExists:
                return fail(f"user {name!r} already exists")
            if args.quota is not None:
                store.set_quota(name, args.quota)
            if args.admin:
                store.set_admin(name, True)
            print(f"added user {name}" + (" (admin)" if args.admin else ""))
        elif args.action == "unlock":
            return cmd_user_unlock(store, args.name)
        elif args.action == "list":
            for user in store.list_users():
                use = store.usage(user.id)
                quota = "no quota" if user.quota_bytes is None else f"quota {user.quota_bytes} bytes"
                print(f"{user.name}\t{len(store.list_devices(user.id))} device(s)\t{use.bytes} bytes used\t{quota}"
                      + ("\tadmin" if user.is_admin else ""))
        elif args.action in ("passwd", "quota", "admin"):
            return _change_user(store, args)
        else:
            if not store.remove_user(args.name):
                return fail(f"no user {args.name!r}")
            print(f"removed user {args.name}")
        return 0


def _change_user(store: SqlMetaStore, args: argparse.Namespace) -> int:
    from ferrysync.server.passwords import hash_password

    if args.action == "passwd":
        if store.get_user(args.name) is None:
            return fail(f"no user {args.name!r}")
        password = _read_password(args.password_stdin)
        if not password:
            return fail("empty password", 2)
        done, said = store.set_password(args.name, hash_password(password)), "password changed"
    elif args.action == "quota":
        done = store.set_quota(args.name, args.size)
        said = "no quota" if args.size is None else f"quota {args.size} bytes"
    else:
        done, said = store.set_admin(args.name, args.state == "on"), f"admin {args.state}"
    if not done:
        return fail(f"no user {args.name!r}")
    print(f"{args.name}: {said}")
    return 0


def cmd_device(args: argparse.Namespace) -> int:
    from ferrysync.server.routes.common import iso

    with closing(_open_store(args)) as store:
        if args.action == "list":
            found = store.get_user(args.name)
            if found is None:
                return fail(f"no user {args.name!r}")
            for d in store.list_devices(found[0].id):
                print(f"{d.id}\t{d.name}\tcreated {iso(d.created_at)}\tlast seen {iso(d.last_seen) or '-'}")
            return 0
        if not store.revoke_device(args.device_id):
            return fail(f"no active device {args.device_id!r}")
        print(f"revoked device {args.device_id}")
        return 0


def _throttle(args: argparse.Namespace) -> int:
    with closing(_open_store(args)) as store:
        try:
            return cmd_throttle(store, args)
        except ValueError as exc:
            return fail(str(exc), 2)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ferrysync.server.app import build_context, create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(args.tls_cert) != bool(args.tls_key):
        return fail("--tls-cert and --tls-key go together", 2)
    try:
        limits = TransportLimits(args.header_timeout, args.body_timeout, args.max_waiting_connections)
    except ValueError as exc:
        return fail(str(exc), 2)
    if args.data is not None:
        secure_data_dir(args.data)
    ctx = build_context(_config(args))
    app = create_app(ctx)
    server = uvicorn.Server(uvicorn.Config(
        app, host=args.host, port=args.port, log_config=None, log_level=args.log_level,
        access_log=args.access_log, ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key,
        timeout_graceful_shutdown=3, server_header=False,
        http=guarded_protocol(limits, lambda _why: ctx.metrics.add("ferry_slow_connections_closed_total")),
        limit_concurrency=args.limit_concurrency, timeout_keep_alive=args.keep_alive))
    if args.log_level != "debug":  # uvicorn's start-up chatter; our own line below names the URL
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    scheme = "https" if args.tls_cert else "http"
    return asyncio.run(_serve(server, scheme, args.host, ctx.notifier.release))


async def _serve(server: object, scheme: str, host: str, release: Callable[[], None]) -> int:
    import uvicorn

    assert isinstance(server, uvicorn.Server)
    loop = asyncio.get_running_loop()
    exiting = server.handle_exit

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        # uvicorn waits for open requests before the app's own shutdown runs: parked long-polls answer first
        exiting(sig, frame)
        loop.call_soon_threadsafe(release)

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        log.info("ferry-server listening on %s://%s:%d", scheme, shown, port)
    await task
    return 0 if server.started else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    private_umask()  # whatever umask started us, what we create is 0600/0700 (server/datadir.py)
    if (problem := _check_locations(args)) is not None:
        return fail(problem, 2)
    commands = {"serve": cmd_serve, "user": cmd_user, "gc": cmd_gc, "device": cmd_device, "throttle": _throttle}
    try:
        return commands[args.command](args)
    except OperationalError as exc:
        return fail(f"cannot use the database: {exc.orig}")
    except StoreUnavailable as exc:
        return fail(f"cannot use the block store: {exc}")
    except DataDirUnsafe as exc:
        return fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
