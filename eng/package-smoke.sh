#!/usr/bin/env bash
# Packs the five libraries into artifacts/packages with a unique version, compiled against the lowest StackExchange.Redis
# they support (StackExchangeRedisFloorVersion in Directory.Packages.props, which NuGet then declares as their minimum),
# then builds and runs tests/Scaling.PackageConsumer twice, referencing them as NuGet packages (through nuget.config's
# local source) and making real calls against the harness's servers:
#   1. on that lowest StackExchange.Redis;
#   2. on the newest (StackExchangeRedisVersion), with FusionCache's Redis backplane beside the packages.
set -euo pipefail
cd "$(dirname "$0")/.."

floor=$(sed -nE 's|.*<StackExchangeRedisFloorVersion>([^<]+)</StackExchangeRedisFloorVersion>.*|\1|p' Directory.Packages.props)
newest=$(sed -nE 's|.*<StackExchangeRedisVersion [^>]*>([^<]+)</StackExchangeRedisVersion>.*|\1|p' Directory.Packages.props)
if [ -z "$floor" ] || [ -z "$newest" ]; then
  echo "Directory.Packages.props names no StackExchangeRedisFloorVersion or StackExchangeRedisVersion." >&2
  exit 1
fi

# The version has one source (VersionPrefix in Directory.Build.props), and the README's status line names it.
prefix=$(sed -nE 's|.*<VersionPrefix>([^<]+)</VersionPrefix>.*|\1|p' Directory.Build.props)
readme=$(sed -nE 's|^> Status: \*\*([^*]+)\*\*.*|\1|p' README.md)
if [ -z "$prefix" ] || [ "$prefix" != "$readme" ]; then
  echo "The packages' version ($prefix, VersionPrefix in Directory.Build.props) and README.md's status line ($readme) disagree." >&2
  exit 1
fi
version="$prefix-local.$(date -u +%Y%m%d%H%M%S)"
mkdir -p artifacts/packages
find artifacts/packages -name 'Scaling.*.nupkg' -delete -o -name 'Scaling.*.snupkg' -delete
for project in src/*/*.csproj; do
  dotnet pack "$project" -c Release -nologo -v quiet -p:Version="$version" -p:StackExchangeRedisVersion="$floor"
done
echo "Packed against StackExchange.Redis $floor: $(cd artifacts/packages && ls Scaling.*."$version".nupkg | tr '\n' ' ')"

dotnet build tests/Scaling.TestServers -c Release -nologo -v quiet
for consumer in "$floor false" "$newest true"; do
  read -r redis fusion <<<"$consumer"
  echo "Package consumer on StackExchange.Redis $redis$([ "$fusion" = true ] && echo ' with FusionCache and its Redis backplane'):"
  dotnet build tests/Scaling.PackageConsumer -c Release -nologo -v quiet \
    -p:ScalingPackageVersion="$version" -p:ConsumerRedisVersion="$redis" -p:WithFusionCache="$fusion"
  dotnet tests/Scaling.TestServers/bin/Release/net10.0/Scaling.TestServers.dll exec -- \
    dotnet tests/Scaling.PackageConsumer/bin/Release/net10.0/Scaling.PackageConsumer.dll
done
