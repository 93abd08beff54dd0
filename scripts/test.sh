#!/usr/bin/env bash
# Builds everything and runs the test suite: first the optimised build, then
# the AddressSanitizer + UndefinedBehaviorSanitizer build; last, it compiles
# everything with clang++ too, so the code stays portable between compilers.
# All three treat warnings as errors (the build scripts/run.sh makes does not).
#
#   scripts/test.sh           all three builds
#   scripts/test.sh --quick   the optimised build only
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

quick=false
[ $# -le 1 ] || refuse "one argument at most, not $#"
case "${1:-}" in
  "") ;;
  --quick) quick=true ;;
  -h | --help)
    usage
    exit 0
    ;;
  *) refuse "unknown argument '$1'" ;;
esac

ensure_build_tools
cd "$REPO_ROOT"

# The code is kept formatted by .clang-format, as clang-format 14 lays it out
# (other versions lay some lines out differently); check it when that
# version is here and this is a git checkout.
if clang-format --version 2>/dev/null | grep -q 'version 14\.' &&
  git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror
fi

build_preset test
ctest --preset test

if ! $quick; then
  build_preset asan
  ctest --preset asan
  build_preset clang
fi
