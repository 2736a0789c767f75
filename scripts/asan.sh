#!/usr/bin/env bash
# Run regrad's test suite against compiled extensions built with AddressSanitizer.
#
#   scripts/asan.sh [pytest arguments...]      e.g. scripts/asan.sh tests/test_errors.py
#
# The working tree (tracked and new files, no build products) is copied into a
# scratch directory ($ASAN_WORKDIR, or a new one under /tmp), the extensions are
# built there with -fsanitize=address (and without Cython's freelists; with
# PYTHONMALLOC=malloc the compiled engine's node allocator, regrad/_pool.h, also
# hands every node to malloc, where ASan watches it), and pytest runs
# the copy's tests with libasan preloaded into the (uninstrumented) interpreter:
#
#   LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libstdc++.so)
#   ASAN_OPTIONS=detect_leaks=0:...     CPython's own allocations at exit are not leaks
#   PYTHONMALLOC=malloc                 every Python object through malloc, not pymalloc
#
# Subprocesses started by the tests inherit all of this. ASan writes each report
# to $work/asan.<pid>; the script prints them and fails if there is any. The RSS
# tests are deselected (ASan's quarantine keeps freed memory on purpose), and so
# are the browser tests (Chromium would inherit the preloaded ASan runtime).
# The threaded lanes run in tests/test_lanes*.py, among them the failure paths
# that must stop and join every worker: a worker that cannot start (forced
# through regrad._lanes._test_hook) and an interrupt while joining.
# Exit status: 0 when pytest passed and ASan reported nothing.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python}"
cc="${CC:-gcc}"
libasan="$("$cc" -print-file-name=libasan.so)"
libstdcxx="$("$cc" -print-file-name=libstdc++.so)"
if [ ! -e "$libasan" ]; then
    echo "asan.sh: libasan.so not found (install gcc's AddressSanitizer runtime)" >&2
    exit 2
fi
work="${ASAN_WORKDIR:-$(mktemp -d /tmp/regrad-asan.XXXXXX)}"
mkdir -p "$work"
echo "asan.sh: scratch tree $work"

# ---------------------------------------------------------------- the sources
cd "$here"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$work"
else
    tar --exclude=build --exclude='*.so' --exclude='*.c' --exclude=__pycache__ \
        --exclude=.hypothesis -cf - . | tar -xf - -C "$work"
fi
rm -f "$work"/regrad/*.so "$work"/regrad/*.c

# ------------------------------------------------------------------ the build
cd "$work"
echo "asan.sh: building the extensions with -fsanitize=address"
CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -DCYTHON_USE_FREELISTS=0" \
LDFLAGS="-fsanitize=address" \
    "$python" setup.py -q build_ext --inplace >"$work/build.log" 2>&1 || {
        tail -30 "$work/build.log" >&2; echo "asan.sh: build failed" >&2; exit 2; }
for so in regrad/*.so; do
    # grep reads all of nm's output: with -q it could stop early, and nm's
    # SIGPIPE would fail the pipeline under pipefail
    if ! nm -D "$so" | grep __asan_ >/dev/null; then
        echo "asan.sh: $so is not instrumented" >&2
        exit 2
    fi
done

# ------------------------------------------------------------------ the tests
# libstdc++ too: C++ extensions that the tests import (matplotlib's) throw
# exceptions, which ASan can only intercept if libstdc++ is there from the start
export LD_PRELOAD="$libasan:$libstdcxx"
export ASAN_OPTIONS="detect_leaks=0:alloc_dealloc_mismatch=0:halt_on_error=1:abort_on_error=0:log_path=$work/asan"
# ASAN_PYTHONMALLOC=pymalloc keeps the compiled engine's slabs (free cells poisoned)
export PYTHONMALLOC="${ASAN_PYTHONMALLOC:-malloc}"
export PYTHONPATH="$work${PYTHONPATH:+:$PYTHONPATH}"
"$python" - <<EOF
import regrad, regrad._core, regrad._replay, regrad._optim, regrad._lanes
for m in (regrad, regrad._core, regrad._replay, regrad._optim, regrad._lanes):
    assert m.__file__.startswith("$work/"), f"imported {m.__file__}, not the ASan build"
print("asan.sh: testing", regrad._core.__file__)
EOF
status=0
"$python" -m pytest -p no:cacheprovider -q -rfE -k "not rss_flat" -m "not browser" "${@:-tests}" \
    || status=$?

# ---------------------------------------------------------------- the verdict
reports=$(ls "$work"/asan.* 2>/dev/null || true)
if [ -n "$reports" ]; then
    for r in $reports; do echo "===== $r"; cat "$r"; done
    echo "asan.sh: AddressSanitizer reported errors (pytest exit status $status)"
    exit 1
fi
echo "asan.sh: AddressSanitizer reported nothing (pytest exit status $status)"
exit "$status"
