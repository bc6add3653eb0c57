#!/usr/bin/env bash
# make demo: a short, self-contained tour against local simulators. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/cartwright run tests/demo.lua
