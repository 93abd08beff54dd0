#!/usr/bin/env bash
# Who was served when: runs a lesson's program with --timeline, then draws
# what it did.
#
#   scripts/timeline.sh LESSON [--out DIR | --update]
#
# LESSON 1 to 6: that lesson's echo server, while three scripted nc clients
# type three lines each, the second and third starting 0.4 s and 0.8 s after
# the first. Writes DIR/timeline.json and DIR/timeline.svg.
# LESSON async_await: its two tasks, for 16 ticks of 0.2 s. Writes
# DIR/async_await.json and .svg.
# LESSON image_downloader: 8 images from a local image_server that answers
# after 0.3 s, one after another (sync), then all at once (async). Writes
# DIR/image_downloader.json and .svg.
# LESSON 7: lesson 7's echo server, paused while three nc clients type a
# line each, so that one wait brings back the three.
#
# The JSON opens in Perfetto's UI or chrome://tracing; the SVG is the picture
# (scripts/render_timeline.py draws it). DIR is build/timeline/FOLDER, FOLDER
# being the lesson's folder, unless told otherwise. --update draws into the
# lesson's folder itself: the picture its page shows, and its JSON.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

help_if_asked "$@"
[ $# -gt 0 ] || refuse "which lesson? LESSON is 1 to 7, async_await or image_downloader"
lesson="$1"
name=timeline # of the files written
case "$lesson" in
  1)
    program=blocking_echo_server
    folder=1_intro
    title="Lesson 1: a blocking server serves one client at a time"
    ;;
  2)
    program=select_echo_server
    folder=2_event_loop
    title="Lesson 2: one thread serves every client between its waits in select()"
    ;;
  3)
    program=callback_echo_server
    folder=3_async_with_callbacks
    title="Lesson 3: one thread serves every client between its waits in epoll_wait()"
    ;;
  4)
    program=generator_echo_server
    folder=4_generators
    title="Lesson 4: each client is a task, run again once its socket is ready"
    ;;
  5)
    program=coroutine_echo_server
    folder=5_coroutines
    title="Lesson 5: the same tasks as lesson 4, written as coroutines"
    ;;
  6)
    program=async_echo_server
    folder=6_async_await
    title="Lesson 6: the runtime resumes a client's task once its socket is ready"
    ;;
  7)
    program=uring_echo_server
    folder=7_io_uring
    title="Lesson 7: one wait brings back the completions of several clients"
    ;;
  async_await)
    program=async_await
    folder=6_async_await
    name=async_await
    title="Lesson 6: two tasks take turns on one loop, each running while the other sleeps"
    ;;
  image_downloader)
    program=image_downloader
    folder=6_async_await
    name=image_downloader
    title="Lesson 6: 8 images one after another (sync), then all at once (async)"
    ;;
  *)
    refuse "no lesson '$lesson': LESSON is 1 to 7, async_await or image_downloader"
    ;;
esac
shift
out="" # given by --out
update=false
while [ $# -gt 0 ]; do
  case "$1" in
    --out)
      if [ $# -lt 2 ] || [ -z "$2" ]; then refuse "--out needs a folder"; fi
      # "-" is no folder, and "--update" a forgotten value: ./-x names a folder "-x".
      [[ "$2" != -* ]] || refuse "--out needs a folder, not '$2'"
      out="$2"
      shift 2
      ;;
    --update)
      update=true
      shift
      ;;
    *) refuse "unknown argument '$1'" ;;
  esac
done
if $update && [ -n "$out" ]; then refuse "--out and --update: one or the other"; fi
if $update; then
  out="$REPO_ROOT/$folder"
elif [ -z "$out" ]; then
  out="$REPO_ROOT/build/timeline/$folder"
fi
if ! error="$(mkdir -p -- "$out" 2>&1)"; then
  echo "timeline.sh: ${error#mkdir: }" >&2
  exit 1
fi
# CDPATH= : a relative folder is this one's, and cd prints nothing.
out="$(CDPATH='' cd -- "$out" && pwd)"

ensure_build_tools # python3 and nc among them
programs=("$program")
[ "$program" != image_downloader ] || programs+=(image_server)
build_targets default "${programs[@]}" || exit 1
bin="$REPO_ROOT/build/bin"

work="$(mktemp -d)"
server_pid=""
# A run that ends early (a failure, Ctrl-C) kills the server, so that its
# half-drawn timeline never replaces the last one; what it had written,
# into a hidden file beside it until its exit, goes too. So do the clients.
cleanup() {
  local job
  for job in $(jobs -p); do
    [ "$job" = "$server_pid" ] || kill "$job" 2>/dev/null || true
  done
  if [ -n "$server_pid" ]; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    rm -f -- "$out/.$name.json."??????
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "timeline.sh: $*" >&2
  exit 1
}

json="$out/$name.json"
picture="$out/$name.svg"
render_options=()

# with_only_standard_fds COMMAND...: replaces the shell it runs in with
# COMMAND, with descriptors 0, 1 and 2 open and no others: the picture shows
# descriptor numbers, which must not depend on what the caller's shell left
# open. Give it a shell of its own: run it in the background (&) or in ( ).
with_only_standard_fds() {
  local fd
  for fd in /proc/self/fd/*; do
    fd="${fd##*/}"
    if [ "$fd" -gt 2 ]; then exec {fd}>&-; fi
  done
  exec "$@"
}

# start_server PROGRAM ARGS...: starts it with --port 0 in the background and
# waits for its "listening on" line; sets server_pid and port. It runs in a
# session of its own (setsid), so that a Ctrl-C at the terminal reaches this
# script alone, whose cleanup kills it: a half-drawn timeline never replaces
# the last one.
start_server() {
  local server="$1"
  shift
  with_only_standard_fds setsid "$bin/$server" --port 0 "$@" >"$work/server.out" \
    2>"$work/server.err" &
  server_pid=$! # the server's own: the shell became the server
  local tries
  for ((tries = 0; tries < 100; tries++)); do # 10 s at most
    grep -qs '^listening on ' "$work/server.out" && break
    kill -0 "$server_pid" 2>/dev/null || fail "$server did not start: $(cat "$work/server.err")"
    sleep 0.1
  done
  port="$(sed -n '1s/^listening on .*://p' "$work/server.out")"
  [ -n "$port" ] || fail "$server printed no 'listening on' line"
}

# SIGTERM must end the server with status 0, leaving its timeline complete.
stop_server() {
  kill -TERM "$server_pid"
  local status=0
  wait "$server_pid" || status=$?
  server_pid=""
  [ "$status" -eq 0 ] || fail "the server exited with status $status on SIGTERM: $(cat "$work/server.err")"
}

# client NUMBER DELAY: connects after DELAY seconds, types a line 0.2 s later
# and two more 0.6 s apart, then ends its input (nc -N shuts down its sending
# side), and leaves once the server has closed the connection. `timeout`
# bounds each. What it does is logged with the time, for the picture.
client() {
  local number="$1"
  sleep "$2"
  echo "$number $(date +%s.%N) connects" >>"$work/clients.log"
  {
    sleep 0.2
    for line in 1 2 3; do
      echo "$number $(date +%s.%N) types" >>"$work/clients.log"
      printf 'client %d, line %d\n' "$number" "$line"
      [ "$line" -eq 3 ] || sleep 0.6
    done
  } | timeout 20 nc -N 127.0.0.1 "$port" >"$work/client$number.out"
}

# The echo server with its three clients.
draw_echo_server() {
  start_server "$program" --timeline "$json"
  # The picture begins 0.1 s before the first client and ends 0.1 to 0.6 s
  # after the last one; the server waits longer than that, before and after,
  # so that its first and last waits fill the edges the same way in every run.
  sleep 0.3
  client 1 0 &
  local first=$!
  client 2 0.4 &
  local second=$!
  client 3 0.8 &
  local third=$!
  local pid number expected
  for pid in "$first" "$second" "$third"; do
    wait "$pid" || fail "a client failed or timed out (is the server stuck?)"
  done
  for number in 1 2 3; do
    expected="$(printf 'client %d, line %d\n' "$number" 1 "$number" 2 "$number" 3)"
    [ "$(cat "$work/client$number.out")" = "$expected" ] || fail "client $number was not echoed in full"
  done
  sleep 0.7
  stop_server
  # Client times in seconds since the first one connected, as the picture counts.
  awk '$3 == "connects" && $1 == 1 { zero = $2 } { line[NR] = $0 }
    END { for (i = 1; i <= NR; i++) { split(line[i], f, " "); printf "%d %.3f %s\n", f[1], f[2] - zero, f[3] } }' \
    "$work/clients.log" >"$work/clients.txt"
  render_options=(--clients "$work/clients.txt")
}

draw_async_await() {
  (with_only_standard_fds timeout 20 "$bin/async_await" --tick-ms 200 --ticks 16 \
    --timeline "$json" >"$work/output") || fail "async_await failed or timed out"
}

# The downloader against a local image_server; a short latency would make
# bars too thin to see, a long one a picture too wide.
draw_image_downloader() {
  start_server image_server --latency-ms 300
  (with_only_standard_fds timeout 60 "$bin/image_downloader" \
    --url "http://127.0.0.1:$port/320/240" --count 8 --out "$work/images" --timeline "$json" \
    >"$work/output" 2>"$work/errors") || fail "image_downloader failed: $(cat "$work/errors")"
  stop_server
}

# Three nc clients connect; then the server is paused (SIGSTOP) while each
# types a line, so that all three lines are there when it goes on (SIGCONT).
draw_busy_echo_server() {
  start_server "$program" --timeline "$json"
  sleep 0.3
  local number fd inputs=() pids=()
  for number in 1 2 3; do
    mkfifo "$work/in$number"
    timeout 20 nc -N 127.0.0.1 "$port" <"$work/in$number" >"$work/client$number.out" &
    pids+=($!)
    exec {fd}>"$work/in$number"
    inputs+=("$fd")
  done
  # Paused once it has accepted all three and sleeps in its wait (10 s at most).
  local tries
  for ((tries = 0; tries < 100; tries++)); do
    [ "$(grep -c '^connection from ' "$work/server.out")" -ge 3 ] &&
      [ "$(cut -d' ' -f3 "/proc/$server_pid/stat")" = S ] && break
    sleep 0.1
  done
  [ "$tries" -lt 100 ] || fail "$program did not accept the three clients"
  kill -STOP "$server_pid"
  for number in 1 2 3; do printf 'client %d\n' "$number" >&"${inputs[number - 1]}"; done
  sleep 0.3
  kill -CONT "$server_pid"
  sleep 0.3
  for fd in "${inputs[@]}"; do exec {fd}>&-; done
  for number in 1 2 3; do
    wait "${pids[number - 1]}" || fail "client $number failed or timed out"
    [ "$(cat "$work/client$number.out")" = "client $number" ] || fail "client $number was not echoed"
  done
  sleep 0.3
  stop_server
}

case "$program" in
  uring_echo_server) draw_busy_echo_server ;;
  async_await) draw_async_await ;;
  image_downloader) draw_image_downloader ;;
  *) draw_echo_server ;;
esac
python3 "$REPO_ROOT/scripts/render_timeline.py" --title "$title" "${render_options[@]}" \
  "$json" "$picture"
echo "timeline: $json"
echo "picture:  $picture"
$update || [ "$out" != "$REPO_ROOT/build/timeline/$folder" ] ||
  echo "(scripts/timeline.sh $lesson --update redraws the picture on the lesson's page)"
