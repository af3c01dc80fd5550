#!/bin/bash
# tests/bench/find.sh [MODELS] [VERSIONS] - the metadata scenario of
# tools/bench.sh on a registry of MODELS x VERSIONS sealed versions
# (default 1000 x 10, cached between runs): ls -lR, find, stat and
# `modelctl find` against the same tree as plain directories.
set -euo pipefail
exec "$(dirname "$0")/../../tools/bench.sh" --only metadata \
	--meta-models "${1:-1000}" --meta-versions "${2:-10}"
