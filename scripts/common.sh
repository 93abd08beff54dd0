# Shared by the scripts in this folder: where the repository is, installing
# what is missing, and configuring + building a CMake preset.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Installs the Debian packages that are not installed yet (sudo when not root).
ensure_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}

ensure_build_tools() {
  ensure_packages cmake g++ clang clang-format make libcurl4-openssl-dev libgtest-dev libgmock-dev netcat-openbsd
}

# Configures a preset the first time, then lets cmake --build do only what changed.
build_preset() {
  local preset="$1" binary_dir="$REPO_ROOT/build"
  [ "$preset" = default ] || binary_dir="$REPO_ROOT/build-$preset"
  (
    cd "$REPO_ROOT"
    [ -f "$binary_dir/CMakeCache.txt" ] || cmake --preset "$preset" >&2
    cmake --build --preset "$preset" --parallel "$(nproc)" >&2
  )
}
