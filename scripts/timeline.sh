#!/usr/bin/env bash
# Who was served when: runs a lesson's echo server with --timeline while three
# scripted nc clients type three lines each, the second and third starting
# 0.4 s and 0.8 s after the first; then draws the timeline.
#
#   scripts/timeline.sh LESSON [--out DIR]     LESSON is 1, 2, 3, 4 or 5
#
# Writes DIR/timeline.json (open it in Perfetto's UI or chrome://tracing)
# and DIR/timeline.svg, the picture (scripts/render_timeline.py draws it).
# DIR is the lesson's folder unless told otherwise: its page shows the picture.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }

lesson="${1:-}"
case "$lesson" in
  -h | --help)
    usage
    exit 0
    ;;
  1)
    server=blocking_echo_server
    folder=1_intro
    title="Lesson 1: a blocking server serves one client at a time"
    ;;
  2)
    server=select_echo_server
    folder=2_event_loop
    title="Lesson 2: one thread serves every client between its waits in select()"
    ;;
  3)
    server=callback_echo_server
    folder=3_async_with_callbacks
    title="Lesson 3: one thread serves every client between its waits in epoll_wait()"
    ;;
  4)
    server=generator_echo_server
    folder=4_generators
    title="Lesson 4: each client is a task, run again once its socket is ready"
    ;;
  5)
    server=coroutine_echo_server
    folder=5_coroutines
    title="Lesson 5: the same tasks as lesson 4, written as coroutines"
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
shift
out="$REPO_ROOT/$folder"
if [ "${1:-}" = --out ] && [ -n "${2:-}" ]; then
  mkdir -p "$2"
  out="$(cd "$2" && pwd)"
elif [ $# -gt 0 ]; then
  usage >&2
  exit 2
fi

ensure_build_tools
ensure_packages python3 netcat-openbsd
build_targets default "$server" || exit 1

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill -KILL "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "timeline.sh: $*" >&2
  exit 1
}

json="$out/timeline.json"
"$REPO_ROOT/build/bin/$server" --port 0 --timeline "$json" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for ((tries = 0; tries < 100; tries++)); do # 10 s at most
  grep -qs '^listening on ' "$work/server.out" && break
  kill -0 "$server_pid" 2>/dev/null || fail "$server did not start: $(cat "$work/server.err")"
  sleep 0.1
done
port="$(sed -n '1s/^listening on .*://p' "$work/server.out")"
[ -n "$port" ] || fail "$server printed no 'listening on' line"
# The picture begins 0.1 s before the first client and ends 0.1 to 0.6 s after
# the last one; the server waits longer than that, before and after, so that
# its first and last waits fill the edges the same way in every run.
sleep 0.3

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
client 1 0 &
first=$!
client 2 0.4 &
second=$!
client 3 0.8 &
third=$!
for pid in "$first" "$second" "$third"; do
  wait "$pid" || fail "a client failed or timed out (is the server stuck?)"
done
for number in 1 2 3; do
  expected="$(printf 'client %d, line %d\n' "$number" 1 "$number" 2 "$number" 3)"
  [ "$(cat "$work/client$number.out")" = "$expected" ] || fail "client $number was not echoed in full"
done

sleep 0.7
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" -eq 0 ] || fail "$server exited with status $status on SIGTERM: $(cat "$work/server.err")"

# Client times in seconds since the first one connected, as the picture counts.
awk '$3 == "connects" && $1 == 1 { zero = $2 } { line[NR] = $0 }
  END { for (i = 1; i <= NR; i++) { split(line[i], f, " "); printf "%d %.3f %s\n", f[1], f[2] - zero, f[3] } }' \
  "$work/clients.log" >"$work/clients.txt"
python3 "$REPO_ROOT/scripts/render_timeline.py" --title "$title" --clients "$work/clients.txt" \
  "$json" "$out/timeline.svg"
echo "timeline: $json"
echo "picture:  $out/timeline.svg"
