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

[ $# -gt 0 ] || refuse "which lesson? usage: scripts/run.sh LESSON [ARGS...]"
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
  *) refuse "no lesson or program named '$lesson'" ;;
esac

# --help of lesson 6 starts nothing: what the demonstration does, then the
# downloader's own options.
if [ "$program" = download_demo ]; then
  for argument in "$@"; do
    case "$argument" in -h | --help)
      echo "scripts/run.sh 6 [ARGS...] starts image_server on a free port, then runs"
      echo "image_downloader --url http://127.0.0.1:PORT/320/240 --out build/images ARGS"
      echo "(images go to the checkout's build/images/ unless ARGS say --out DIR)."
      echo
      program=image_downloader
      set -- --help
      break
      ;;
    esac
  done
fi

case "$program" in
  download_demo) targets=(image_server image_downloader) ;;
  *) targets=("$program") ;;
esac
ensure_build_tools
build_targets default "${targets[@]}" || exit 1
bin="$REPO_ROOT/build/bin"

# Lesson 6 needs no internet: our own image_server plays the image site.
# SIGINT, SIGTERM or SIGHUP to run.sh (Ctrl-C, a supervisor, a closed
# terminal) stops the downloader first, then the server, and run.sh returns
# only once both have gone.
download_demo() {
  coproc SERVER { exec "$bin/image_server" --port 0; }
  # Not local: the traps run when this function's locals are gone.
  server_pid=$SERVER_PID
  downloader_pid=""
  trap 'stop_demo' EXIT
  trap 'stop_downloader 130' INT
  trap 'stop_downloader 143' TERM
  trap 'stop_downloader 129' HUP
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
  # The images go under the build folder, not into whatever folder run.sh
  # was started from, unless the reader names one.
  local out=(--out "$REPO_ROOT/build/images") argument
  for argument in "$@"; do
    if [ "$argument" = --out ]; then out=(); fi
  done
  [ ${#out[@]} -eq 0 ] || echo "the images go to ${out[1]}/"
  # In the background, so that a signal to run.sh runs its trap at once
  # (bash runs traps only between commands); `wait` ends early then, so it
  # waits again until the downloader has gone.
  "$bin/image_downloader" --url "http://127.0.0.1:${line##*:}/320/240" "${out[@]}" "$@" &
  downloader_pid=$!
  local status
  while true; do
    status=0
    wait "$downloader_pid" || status=$?
    kill -0 "$downloader_pid" 2>/dev/null || break
  done
  return "$status"
}

# A stop signal: the downloader is sent SIGTERM, the stop every program
# handles; before it has started, run.sh stops at once (with the exit code
# the shell gives for that signal).
stop_downloader() {
  if [ -z "$downloader_pid" ]; then exit "$1"; fi
  kill -TERM "$downloader_pid" 2>/dev/null || true
}

# At exit: the server stops, and run.sh waits for it and its reader.
stop_demo() {
  kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}

if [ "$program" = download_demo ]; then
  download_demo "$@"
  exit $?
fi
exec "$bin/$program" "$@"
