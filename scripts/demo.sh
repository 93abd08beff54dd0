#!/usr/bin/env bash
# The course's "open several terminals" step as one command: a tmux window
# with the lesson's echo server in the top pane and three nc clients below.
#
#   scripts/demo.sh LESSON [--port P]     LESSON is 1 to 6
#
# Type in any client pane (switch panes with Ctrl-b and an arrow key).
# Leave with Ctrl-b d (detach) and `tmux kill-session -t echo-demo`, or
# press Ctrl-c in every pane.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }

port=5000
lesson="${1:-}"
case "$lesson" in
  -h | --help)
    usage
    exit 0
    ;;
  1) server=blocking_echo_server ;;
  2) server=select_echo_server ;;
  3) server=callback_echo_server ;;
  4) server=generator_echo_server ;;
  5) server=coroutine_echo_server ;;
  6) server=async_echo_server ;;
  *)
    usage >&2
    exit 2
    ;;
esac
shift
if [ "${1:-}" = --port ] && [ -n "${2:-}" ]; then
  port="$2"
elif [ $# -gt 0 ]; then
  usage >&2
  exit 2
fi

ensure_build_tools
ensure_packages tmux netcat-openbsd
build_targets default "$server" || exit 1

session=echo-demo
tmux kill-session -t "$session" 2>/dev/null || true
server_command="'$REPO_ROOT/build/bin/$server' --port $port --trace"
# Each client waits until the server accepts connections, then connects.
client_command="until nc -z 127.0.0.1 $port; do sleep 0.2; done; echo 'connected: type a line'; nc 127.0.0.1 $port"

tmux new-session -d -s "$session" -x 200 -y 50 "$server_command; read -r -p 'server stopped; press Enter'"
for _ in 1 2 3; do
  tmux split-window -t "$session" -v "$client_command; read -r -p 'disconnected; press Enter'"
done
tmux select-layout -t "$session" tiled >/dev/null

echo "Lesson $lesson: $server on 127.0.0.1:$port with three nc clients."
echo "Switch panes with Ctrl-b and an arrow key; leave with Ctrl-b d, then"
echo "  tmux kill-session -t $session"
if [ -t 0 ] && [ -t 1 ] && [ -z "${TMUX:-}" ]; then
  exec tmux attach -t "$session"
fi
echo "Not attached (no terminal, or already inside tmux): tmux attach -t $session"
