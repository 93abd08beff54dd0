#!/usr/bin/env bash
# Builds what one lesson's main program needs (nothing else, and quietly
# unless the build fails), then runs it in the foreground.
#
#   scripts/run.sh LESSON [ARGS...]
#
# LESSON is a number or a program's name:
#   1  blocking_echo_server     (127.0.0.1:5000 unless told --port)
#   2  select_echo_server
#   3  callback_echo_server     (--backend epoll|poll)
#   4  generator_echo_server
#   5  coroutines               (also: delegation, coroutine_echo_server)
#   6  the offline downloader demonstration: starts image_server on a free
#      port and runs image_downloader against it (ARGS go to the downloader;
#      also: async_await, async_echo_server, image_server, image_downloader)
#   7  uring_echo_server        (where the kernel allows io_uring)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { sed -n '2,17s/^# \{0,1\}//p' "$0"; }

if [ $# -eq 0 ]; then
  usage >&2
  exit 2
fi
case "$1" in -h | --help)
  usage
  exit 0
  ;;
esac

lesson="$1"
shift
case "$lesson" in
  1) program=blocking_echo_server ;;
  2) program=select_echo_server ;;
  3) program=callback_echo_server ;;
  4) program=generator_echo_server ;;
  5) program=coroutines ;;
  6) program=download_demo ;;
  7) program=uring_echo_server ;;
  blocking_echo_server | select_echo_server | callback_echo_server | generator_echo_server | \
    coroutines | delegation | coroutine_echo_server | async_await | async_echo_server | \
    image_server | image_downloader | uring_echo_server)
    program="$lesson"
    ;;
  *)
    echo "run.sh: no lesson or program named '$lesson' (try --help)" >&2
    exit 2
    ;;
esac

case "$program" in
  download_demo) targets=(image_server image_downloader) ;;
  *) targets=("$program") ;;
esac
ensure_build_tools
build_targets default "${targets[@]}" || exit 1
bin="$REPO_ROOT/build/bin"

# Lesson 6 needs no internet: our own image_server plays the image site.
download_demo() {
  coproc SERVER { exec "$bin/image_server" --port 0; }
  # Not local: the trap runs at exit, when this function's locals are gone.
  server_pid=$SERVER_PID
  trap 'kill "$server_pid" 2>/dev/null || true' EXIT
  local line
  if ! read -r -t 10 line <&"${SERVER[0]}" || [[ "$line" != "listening on "* ]]; then
    echo "run.sh: image_server did not start" >&2
    exit 1
  fi
  echo "image_server is $line"
  # Keep reading its output so that it never blocks on a full pipe (from a
  # copy of the descriptor: bash closes a coproc's own ones in background jobs).
  local server_output
  exec {server_output}<&"${SERVER[0]}"
  cat <&"$server_output" >/dev/null &
  local status=0
  "$bin/image_downloader" --url "http://127.0.0.1:${line##*:}/320/240" "$@" || status=$?
  return "$status"
}

if [ "$program" = download_demo ]; then
  download_demo "$@"
  exit $?
fi
exec "$bin/$program" "$@"
