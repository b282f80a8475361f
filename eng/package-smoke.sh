#!/usr/bin/env bash
# Packs the five libraries into artifacts/packages with a unique version, then builds and runs
# tests/Scaling.PackageConsumer, which references them as NuGet packages (through nuget.config's
# local source) and makes real calls against the harness's servers.
set -euo pipefail
cd "$(dirname "$0")/.."

version="0.1.0-local.$(date -u +%Y%m%d%H%M%S)"
find artifacts/packages -name 'Scaling.*.nupkg' -delete -o -name 'Scaling.*.snupkg' -delete
for project in src/*/*.csproj; do
  dotnet pack "$project" -c Release -nologo -v quiet -p:Version="$version"
done
echo "Packed: $(cd artifacts/packages && ls Scaling.*."$version".nupkg | tr '\n' ' ')"

dotnet build tests/Scaling.TestServers -c Release -nologo -v quiet
dotnet build tests/Scaling.PackageConsumer -c Release -nologo -v quiet -p:ScalingPackageVersion="$version"
dotnet tests/Scaling.TestServers/bin/Release/net10.0/Scaling.TestServers.dll exec -- \
  dotnet tests/Scaling.PackageConsumer/bin/Release/net10.0/Scaling.PackageConsumer.dll
