#!/usr/bin/env bash
# Builds sgdsync and runs every test with CTest.
#   scripts/test.sh            Release build in build/
#   scripts/test.sh asan       AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   scripts/test.sh tsan       ThreadSanitizer build in build-tsan/
#   scripts/test.sh stress     Release build in build/, only the stress tests (CTest label stress,
#                              left out of the other variants: minutes on a small machine)
#   scripts/test.sh fuzz       clang libFuzzer targets (ASan+UBSan) in build-fuzz/, a bounded run each
# Installs the Debian packages it needs first (scripts/install-deps.sh; root or sudo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
variant=${1:-release}
case "$variant" in
release) dir=build;      cmake_args=(-DCMAKE_BUILD_TYPE=Release) ;;
stress)  dir=build;      cmake_args=(-DCMAKE_BUILD_TYPE=Release -DSGDSYNC_STRESS=ON) ;;
asan)    dir=build-asan; cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGDSYNC_SANITIZE=address,undefined) ;;
tsan)    dir=build-tsan; cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGDSYNC_SANITIZE=thread) ;;
fuzz)    dir=build-fuzz; cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang
                                     -DCMAKE_CXX_COMPILER=clang++ -DSGDSYNC_FUZZ=ON) ;;
*) echo "scripts/test.sh: unknown variant '$variant' (valid: release, asan, tsan, stress, fuzz)" >&2; exit 2 ;;
esac

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/$dir" -G Ninja "${cmake_args[@]}" >/dev/null
if [ "$variant" = fuzz ]; then
    cmake --build "$root/$dir" --parallel "$(nproc)" --target sgdsync_fuzz
    exec ctest --test-dir "$root/$dir" --output-on-failure -L fuzz
fi
cmake --build "$root/$dir" --parallel "$(nproc)"

# TSan needs the address-space layout it was built for; high-entropy ASLR breaks it.
run=()
if [ "$variant" = tsan ]; then run=(setarch "$(uname -m)" -R); fi
labels=(-LE stress)
if [ "$variant" = stress ]; then labels=(-L stress); fi
"${run[@]}" ctest --test-dir "$root/$dir" --output-on-failure --parallel "$(nproc)" "${labels[@]}"
