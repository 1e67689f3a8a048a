#!/usr/bin/env bash
# Install what the studio needs (first run only) and open it on the bundled model.
# Extra arguments go to app.py, e.g. scripts/studio.sh --port 8080.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py "$@"
