#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs ruff, mypy and pytest.
# As root on Debian/Ubuntu it also installs the system packages the tray, systemd and PostgreSQL tests use;
# elsewhere those tests skip and say why. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FERRY_VENV:-.venv}

SYSTEM_PACKAGES=(xvfb trayer xdotool imagemagick dbus dbus-x11 libgirepository1.0-dev libcairo2-dev pkg-config
  gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1 notification-daemon systemd desktop-file-utils postgresql
  chromium)  # chromium: the settings window's browser tests (Playwright drives it; tests/e2e/webui_browser.py)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${FERRY_SKIP_APT:-}" ]; then
  missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test,postgres,s3,bundle,bench]"
if pkg-config --exists gobject-introspection-1.0 2>/dev/null; then
  # PyGObject gives pystray its GTK/AppIndicator backends (the full menu); 3.51+ needs a newer GLib than Debian 12's.
  "$VENV/bin/python" -m pip install -q "pygobject<3.51" || echo "warning: PyGObject did not build; tray menu tests skip"
fi

echo "== ruff"; "$VENV/bin/ruff" check .
# mypy cannot follow setuptools' editable finder, so it reads the packages through a link tree named as installed.
mkdir -p .mypy-src/ferrysync
for p in daemon tray server; do ln -sfn "../../$p" ".mypy-src/ferrysync/$p"; done
echo "== mypy"; MYPYPATH=.mypy-src "$VENV/bin/mypy"
# The tests, as strictly, one folder at a time: every folder has its own conftest.py, which one mypy run would see
# as one module named twice. The folders are pytest's `pythonpath` (pyproject.toml), which is also what MYPYPATH
# needs for the support modules they import by plain name.
TEST_DIRS=$("$VENV/bin/python" -c 'import tomllib
print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["tool"]["pytest"]["ini_options"]["pythonpath"]))')
for d in $TEST_DIRS; do
  echo "== mypy $d"; MYPYPATH=".mypy-src:${TEST_DIRS// /:}" "$VENV/bin/mypy" "$d"/*.py
done
# The whole suite includes building the standalone bundle and syncing through it (FERRY_BUNDLE_TEST=0 skips it).
export FERRY_BUNDLE_TEST="${FERRY_BUNDLE_TEST:-1}"
# tests/services.sh starts a throw-away PostgreSQL and SeaweedFS (S3) on 127.0.0.1 for the server's backend tests.
if [ $# -gt 0 ]; then
  echo "== pytest"; PATH="$VENV/bin:$PATH" bash tests/services.sh "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs "$@"
  exit
fi
# The race-and-crash simulation (tests/sim, CPU-bound) runs beside the rest at the lowest priority: it takes the CPU
# time the end-to-end tests leave idle while they wait on daemons, and yields it whenever they need it.
# Two processes share the schedules, so that both cores work on them once the rest is done.
export FERRY_SIM_SCHEDULES="${FERRY_SIM_SCHEDULES:-1000}"
SIM_LOGS=("$(mktemp)" "$(mktemp)")
echo "== pytest tests/sim ($FERRY_SIM_SCHEDULES schedules and an eighth as many extended ones, two processes in the background at nice 19)"
FERRY_SIM_SHARD=0/2 nice -n 19 "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs tests/sim \
  >"${SIM_LOGS[0]}" 2>&1 &
SIM_PIDS=($!)
FERRY_SIM_SHARD=1/2 nice -n 19 "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs \
  tests/sim/test_engine_sim.py -k test_schedules >"${SIM_LOGS[1]}" 2>&1 &
SIM_PIDS+=($!)
trap 'kill "${SIM_PIDS[@]}" 2>/dev/null || true' EXIT
echo "== pytest"
main=0
# --durations: the slowest tests are named in CI's output, so a suite that grows slower shows where
PATH="$VENV/bin:$PATH" bash tests/services.sh "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs \
  --durations=15 --ignore=tests/sim || main=$?
sim=0
for i in 0 1; do
  wait "${SIM_PIDS[$i]}" || sim=$?
  echo "== pytest tests/sim, shard $i/2"; cat "${SIM_LOGS[$i]}"; rm -f "${SIM_LOGS[$i]}"
done
trap - EXIT
[ "$main" = 0 ] && [ "$sim" = 0 ]
