#!/bin/bash
# tests/bench/quick.sh [SIZE_MIB] [ROUNDS] - the register and read scenarios
# of tools/bench.sh on one large file (default 1024 MiB, 3 rounds): cp into
# a draft + seal against cp/dd + sync, and reads through production/
# against the same bytes as a plain file. See tools/bench.sh --help.
set -euo pipefail
exec "$(dirname "$0")/../../tools/bench.sh" --only register,read \
	--size-mib "${1:-1024}" --rounds "${2:-3}"
