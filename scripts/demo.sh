#!/usr/bin/env bash
# The course's "open several terminals" step as one command: a tmux window
# of four panes, two by two. The lesson's echo server (with --trace) runs in
# the top left pane, and an nc client in each of the three others.
#
#   scripts/demo.sh LESSON [--port P]     LESSON is 1 to 7; --port 0 picks a free port
#
# Each client connects once the server has printed "listening on", so the
# server's pane shows one "connection from" line per client (lesson 1 shows
# the next one only when the client before it leaves). Type in a client pane
# (switch panes with Ctrl-b and an arrow key). Leave with Ctrl-b d (detach)
# and `tmux kill-session -t echo-demo`, or press Ctrl-c in every pane.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

help_if_asked "$@"
[ $# -gt 0 ] || refuse "which lesson? LESSON is 1 to 7"
lesson="$1"
case "$lesson" in
  1) server=blocking_echo_server ;;
  2) server=select_echo_server ;;
  3) server=callback_echo_server ;;
  4) server=generator_echo_server ;;
  5) server=coroutine_echo_server ;;
  6) server=async_echo_server ;;
  7) server=uring_echo_server ;;
  *) refuse "no lesson '$lesson': LESSON is 1 to 7" ;;
esac
shift
port=5000
while [ $# -gt 0 ]; do
  case "$1" in
    --port)
      if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]{1,5}$ ]] || [ "$2" -gt 65535 ]; then
        refuse "--port needs a number from 0 to 65535"
      fi
      port="$2"
      shift 2
      ;;
    *) refuse "unknown argument '$1'" ;;
  esac
done

ensure_build_tools
ensure_packages tmux
build_targets default "$server" || exit 1

session=echo-demo
tmux kill-session -t "$session" 2>/dev/null || true
# Commands given as several words run without a shell in between (tmux 3),
# whatever the reader's shell is: bash -c SCRIPT NAME ARGUMENTS...
server_pane="$(tmux new-session -d -s "$session" -x 200 -y 50 -P -F '#{pane_id}' \
  bash -c '"$@"; read -r -p "server stopped; press Enter" _' server \
  "$REPO_ROOT/build/bin/$server" --port "$port" --trace)"
# A client reads the port from the server's "listening on" line, in the
# server's pane: it connects once the server accepts connections, and only
# then (a probe such as `nc -z` would be a connection of its own). It looks
# ten times a second, for ten seconds at most.
# shellcheck disable=SC2016 # expanded by the client's shell
client_script='for _ in $(seq 100); do
  port="$(tmux capture-pane -p -J -S - -t "$1" | sed -n "s/^listening on .*:\([0-9]*\)\$/\1/p")"
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -n "$port" ]; then
  echo "connecting to 127.0.0.1:$port: type a line"
  nc 127.0.0.1 "$port"
else
  echo "the server did not start: see its pane"
fi
read -r -p "disconnected; press Enter" _'
for _ in 1 2 3; do
  tmux split-window -t "$server_pane" -v bash -c "$client_script" client "$server_pane"
done
tmux select-layout -t "$session" tiled >/dev/null
tmux select-pane -t "$session:0.1" # the first client, top right: type there

echo "Lesson $lesson: $server with three nc clients, in tmux session $session."
echo "Switch panes with Ctrl-b and an arrow key; leave with Ctrl-b d, then"
echo "  tmux kill-session -t $session"
if [ -t 0 ] && [ -t 1 ] && [ -z "${TMUX:-}" ]; then
  exec tmux attach -t "$session"
fi
echo "Not attached (no terminal, or already inside tmux): tmux attach -t $session"
