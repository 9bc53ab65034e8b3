#!/usr/bin/env bash
# Builds sgdsync and runs every test with CTest.
#   scripts/test.sh            Release build in build/
#   scripts/test.sh asan       AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   scripts/test.sh tsan       ThreadSanitizer build in build-tsan/
# Installs the Debian packages it needs first (scripts/install-deps.sh; root or sudo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
variant=${1:-release}
case "$variant" in
release) dir=build;      cmake_args=(-DCMAKE_BUILD_TYPE=Release) ;;
asan)    dir=build-asan; cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGDSYNC_SANITIZE=address,undefined) ;;
tsan)    dir=build-tsan; cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGDSYNC_SANITIZE=thread) ;;
*) echo "scripts/test.sh: unknown variant '$variant' (valid: release, asan, tsan)" >&2; exit 2 ;;
esac

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/$dir" -G Ninja "${cmake_args[@]}" >/dev/null
cmake --build "$root/$dir" --parallel "$(nproc)"

# TSan needs the address-space layout it was built for; high-entropy ASLR breaks it.
run=()
if [ "$variant" = tsan ]; then run=(setarch "$(uname -m)" -R); fi
"${run[@]}" ctest --test-dir "$root/$dir" --output-on-failure --parallel "$(nproc)"
