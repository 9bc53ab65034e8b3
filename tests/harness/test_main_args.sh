#!/bin/sh
# scripts/main.sh refuses a bad --out with exit 2 and a message, before it runs anything: each
# case ends in --help, which would exit 0 if the bad --out had been taken.
set -u
main=$1
dir=$(mktemp -d /tmp/sgdsync-test-main-args-XXXXXX)
trap 'rm -rf "$dir"' EXIT
: >"$dir/file"
fail=0
refused() { # expected-message args...
    want=$1
    shift
    "$main" "$@" >"$dir/out" 2>"$dir/err"
    rc=$?
    if [ $rc -ne 2 ] || ! grep -q -- "$want" "$dir/err"; then
        echo "main.sh $*: exit $rc, expected 2 and '$want' on stderr; stderr: $(cat "$dir/err")" >&2
        fail=1
    fi
}
refused "--out=: needs a directory" --out= --help
refused "--out: needs a directory" --out
refused "--out: needs a directory" --out "" --help
refused "--out: needs a directory" --out --quick --help
refused "is not a directory" --out "$dir/file" --help
refused "is not a directory" "--out=$dir/file" --help
"$main" --out "$dir/new" --help >/dev/null || { echo "main.sh --out DIR --help: exit $?" >&2; fail=1; }
[ ! -e "$dir/new" ] || { echo "main.sh --help created its --out directory" >&2; fail=1; }
[ $fail -eq 0 ] && echo "main.sh refused every bad --out"
exit $fail
