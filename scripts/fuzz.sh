#!/usr/bin/env bash
# fuzz.sh [SECONDS] — run every fuzz target in the module briefly, so that a
# crash found by the committed corpus or a few seconds of mutation fails CI.
set -euo pipefail
secs=${1:-10}
status=0
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  echo "fuzz $pkg $name (${secs}s)"
  if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "${secs}s" >/tmp/castnet-fuzz.log 2>&1; then
    cat /tmp/castnet-fuzz.log
    status=1
  fi
done < <(grep -rEo --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' . | sed -E 's/func //' | sort -u)
exit $status
