#!/bin/sh
# On-demand soak run of the reliability tests (see tests/soak/README.md).
#   tests/soak/run_soak.sh                 # soak counts (hundreds of kills, 1500 examples)
#   SYNCSTATS_SOAK_SCALE=4 tests/soak/run_soak.sh
#   SYNCSTATS_SOAK_SECONDS=600 tests/soak/run_soak.sh -k fleet
set -eu
cd "$(dirname "$0")/../.."
export SYNCSTATS_SOAK=1
exec .venv/bin/python -m pytest -p no:cacheprovider -q -s --durations=0 \
    tests/test_reliability_fuzz.py tests/test_reliability_live.py \
    tests/test_reliability_crash.py tests/test_reliability_inputs.py \
    tests/test_reliability_sqlite.py tests/soak "$@"
