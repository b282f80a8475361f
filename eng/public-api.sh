#!/usr/bin/env bash
# Writes each library's current public surface into its PublicAPI.Shipped.txt (Microsoft.CodeAnalysis.PublicApiAnalyzers'
# format), from the analyzer's own RS0016 diagnostics. Run it when a version is released: what was in
# PublicAPI.Unshipped.txt becomes shipped. Between releases, a public change is added to PublicAPI.Unshipped.txt (the
# build fails until it is: RS0016/RS0017 are errors). Usage: bash eng/public-api.sh [src/Scaling.X ...]
set -euo pipefail
cd "$(dirname "$0")/.."
projects=("$@")
[ ${#projects[@]} -gt 0 ] || projects=(src/Scaling.*)
for dir in "${projects[@]}"; do
  dir=${dir%/}
  printf '#nullable enable\n' >"$dir/PublicAPI.Shipped.txt"
  printf '#nullable enable\n' >"$dir/PublicAPI.Unshipped.txt"
  log=$(dotnet build "$dir" -c Release -nologo 2>&1 || true)
  { printf '#nullable enable\n'
    grep -E "error RS0016: Symbol '" <<<"$log" | sed -E "s/.*error RS0016: Symbol '(.*)' is not part of the declared public API.*/\1/" | LC_ALL=C sort -u
  } >"$dir/PublicAPI.Shipped.txt"
  if ! dotnet build "$dir" -c Release -nologo -v quiet >/dev/null 2>&1; then
    echo "$dir does not build with its public API written down; run: dotnet build $dir -c Release" >&2
    exit 1
  fi
  echo "$dir: $(($(wc -l <"$dir/PublicAPI.Shipped.txt") - 1)) public API entries"
done
