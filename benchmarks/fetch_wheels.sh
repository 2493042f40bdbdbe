#!/usr/bin/env bash
# Wheels of what gpu_check.sh needs beyond a GPU image's Python 3.12 + jax + torch, for a machine without
# internet: run here, then carry benchmarks/wheels/ (git-ignored) along with the repository.
#
#   bash benchmarks/fetch_wheels.sh [PYTHON_VERSION]     # default 3.12
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
$PY -m pip download --quiet --dest wheels --only-binary=:all: --python-version "${1:-3.12}" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any --no-deps \
  optax chex toolz xarray pandas zarr numcodecs donfig crc32c google-crc32c typing_extensions psutil tqdm \
  packaging tzdata python-dateutil pytz six
ls wheels
