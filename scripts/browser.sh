#!/usr/bin/env bash
# What the browser tests (pytest -m browser: tests/test_views_browser.py) need: Debian's chromium, a CJK font,
# and Playwright's Python package to drive that chromium. Playwright's own browser download is never used
# (no `playwright install`): the tests launch /usr/bin/chromium (or GRAPHRISK_CHROMIUM).
set -euo pipefail

missing=()
command -v "${GRAPHRISK_CHROMIUM:-/usr/bin/chromium}" >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk
fi
python3 -m pip install --quiet --disable-pip-version-check "playwright>=1.40"
"${GRAPHRISK_CHROMIUM:-/usr/bin/chromium}" --version
