#!/usr/bin/env bash
# Builds the Debian package: configures and builds the `release` preset, runs cpack, and prints
# the path of the .deb as its last line.
#   scripts/package.sh                        # -> build/release/pgrelay_<version>_<arch>.deb
#   sudo dpkg -i build/release/pgrelay_*.deb   # see README "Install as a service"
# The release preset builds without -Werror: GCC 12 at -O3 reports false -Wrestrict/-Wstringop
# warnings inside libstdc++'s std::string (GCC bug 105329); dev and asan keep -Werror.
# cpack installs without building `all` first (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY in the preset):
# only the pgrelay target is built, not the micro-benchmarks.
# Env: SKIP_BUILD=1 packages what build/release already holds.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "package.sh: $*" >&2; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  cmake --preset release >&2
  nice -n 10 cmake --build --preset release --target pgrelay >&2   # the package ships only the binary
fi
[[ -x build/release/proxy/pgrelay ]] || { say "no build/release/proxy/pgrelay: build first"; exit 1; }

# Only the package this run makes: an older one would be easy to pick up by mistake.
rm -f build/release/pgrelay_*.deb
(cd build/release && cpack -G DEB >&2)
shopt -s nullglob
debs=(build/release/pgrelay_*.deb)
((${#debs[@]} == 1)) || { say "expected one .deb in build/release, found ${#debs[@]}"; exit 1; }
say "built ${debs[0]}"
echo "$PWD/${debs[0]}"
