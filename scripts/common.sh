# Shared by the scripts in this folder: where the repository is, --help and
# a refused command line, installing what is missing, and configuring +
# building a CMake preset.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The running script's --help: the comment at its top, from its second line.
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }

# help_if_asked ARGUMENTS...: prints the usage and exits 0 if any argument
# is -h or --help.
help_if_asked() {
  local argument
  for argument in "$@"; do
    case "$argument" in -h | --help)
      usage
      exit 0
      ;;
    esac
  done
}

# One line on standard error, and exit code 2: a bad command line.
refuse() {
  echo "${0##*/}: $* (try --help)" >&2
  exit 2
}

# Installs the Debian packages that are not installed yet (sudo when not root).
ensure_packages() {
  local missing
  # One dpkg-query for all of them; awk keeps the names not reported installed.
  mapfile -t missing < <(
    dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null |
      awk -v wanted="$*" '$2 == "installed" { ok[$1] = 1 }
        END { n = split(wanted, names, " "); for (i = 1; i <= n; i++) if (!(names[i] in ok)) print names[i] }'
  )
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}

ensure_build_tools() {
  ensure_packages cmake g++ clang clang-format make python3 libcurl4-openssl-dev libgtest-dev libgmock-dev libedit-dev liburing-dev netcat-openbsd
}

# The folder a preset builds into (CMakePresets.json says the same).
preset_dir() {
  if [ "$1" = default ]; then echo "$REPO_ROOT/build"; else echo "$REPO_ROOT/build-$1"; fi
}

# Configures a preset the first time, then lets cmake --build do only what changed.
build_preset() {
  local preset="$1"
  (
    cd "$REPO_ROOT"
    [ -f "$(preset_dir "$preset")/CMakeCache.txt" ] || cmake --preset "$preset" >&2
    cmake --build --preset "$preset" --parallel "$(nproc)" >&2
  )
}

# Configures a preset the first time only; quiet unless it fails.
configure_preset() {
  local dir
  dir="$(preset_dir "$1")"
  [ -f "$dir/CMakeCache.txt" ] && return 0
  echo "configuring the build (once; then only what changed is rebuilt)" >&2
  mkdir -p "$dir"
  (cd "$REPO_ROOT" && cmake --preset "$1" >"$dir/configure.log" 2>&1) || {
    cat "$dir/configure.log" >&2
    return 1
  }
}

# Whether PRESET's build knows a target of that name. Every generator gives
# a target a folder of its own, CMakeFiles/NAME.dir.
has_target() {
  [ -n "$(find "$(preset_dir "$1")" -type d -name "$2.dir" -path '*/CMakeFiles/*' -print -quit)" ]
}

# build_targets PRESET TARGET...: configures the preset the first time, then
# builds those targets and what they need, nothing else. Quiet: the
# compiler's output goes to a log, shown only when the build fails.
build_targets() {
  local preset="$1" dir log
  shift
  configure_preset "$preset" || return
  dir="$(preset_dir "$preset")"
  log="$dir/last-build.log"
  if ! cmake --build "$dir" --parallel "$(nproc)" --target "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "building $* failed (the compiler's output is above, and in $log)" >&2
    return 1
  fi
}
