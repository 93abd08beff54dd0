#!/usr/bin/env bash
# How fast is each lesson? Loads every echo server (lessons 1-7, lesson 3 with
# both backends, and references: asio's C++20 coroutines on epoll and on
# io_uring, and Python's asyncio) with build/bin/echo_load, counts their system
# calls with strace, times the image downloader sync against async, runs the
# microbenchmarks, and prints the results as Markdown tables. Raw numbers
# (CSV), the tables and a plot go into BUILD/bench/.
#
#   scripts/bench.sh                   the full run (under ten minutes)
#   scripts/bench.sh --quick           a smoke check (under a minute): short
#                                      runs, 1,000 idle connections, no callgrind,
#                                      no plot
#   scripts/bench.sh --build-dir DIR   measure the programs already built in
#                                      DIR/bin instead of building build/
#
# It fails only when something is broken (a wrong echo, a server that does not
# start or stop cleanly), never because a number is slow. A missing optional
# tool (valgrind, gnuplot, strace, python3) or program is reported and skipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

quick=false
build_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true ;;
    --build-dir)
      [ $# -ge 2 ] || refuse "--build-dir needs a value"
      build_dir="$(cd "$2" && pwd)"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) refuse "unknown argument '$1'" ;;
  esac
  shift
done

# ---- Settings: the quick run is the full run, shortened ----
if $quick; then
  rounds=1        # each round runs every server once; the table shows the median
  duration_ms=300 # per run
  idle_connections=1000
  callgrind=false
  download_latency_ms=50
  benchmark_flags=(--benchmark_min_time=0.01)
  strace_messages=6400
else
  rounds=5
  duration_ms=1500
  idle_connections=10000
  callgrind=true
  download_latency_ms=200
  benchmark_flags=()
  strace_messages=64000
fi
connection_counts=(1 64 1000)
message_size=64
# Callgrind counts the server's user-space instructions twice, for a short and
# a long run, and divides the difference by the difference in messages:
# start-up, connecting and shutting down cancel out. One connection that
# pauses after each echo (--think-time-us) makes every message take the same
# path, as at full speed: the server finds its socket empty after each echo
# and waits in its event loop. Back to back, under valgrind's fifty-fold
# slowdown, the next message would already be there for servers that try to
# read before they wait, and their count would depend on timing.
callgrind_messages=(1000 3000)
callgrind_think_time_us=1000
python_callgrind_messages=(300 900) # the interpreter is slower still
python_callgrind_think_time_us=5000
# The second count: 64 connections that never pause, as in the throughput
# runs. Then one wait returns many events, and how many varies from run to run
# (and so does the count, by a tenth either way): the table shows the median
# of several runs.
callgrind_busy_connections=64
callgrind_busy_messages=(3200 9600)
python_callgrind_busy_messages=(640 1920)
callgrind_busy_runs=3
# System calls per message: strace -c -f attached to the server while
# echo_load runs strace_messages messages on this many busy connections.
strace_connections=64

notes=()
failures=()
note() { notes+=("$*"); }
broken() {
  failures+=("$*")
  echo "bench.sh: BROKEN: $*" >&2
}
progress() { echo "bench.sh: $*" >&2; }

# ---- Tools and build ----
ensure_build_tools
# Optional, and only what this mode uses: without them a column stays empty,
# with a note saying why. (The quick run counts no instructions and draws no plot.)
optional_packages=(libasio-dev libbenchmark-dev)
$quick || optional_packages+=(valgrind gnuplot-nox strace)
progress "optional tools for this run: ${optional_packages[*]}"
ensure_packages "${optional_packages[@]}" ||
  note "could not install all of: ${optional_packages[*]}"
if [ -z "$build_dir" ]; then
  build_dir="$REPO_ROOT/build"
  # Configure again, so that a library installed just now is found.
  (cd "$REPO_ROOT" && cmake --preset default >/dev/null)
  # The programs measured, not the tests: those are scripts/test.sh's.
  targets=(echo_load blocking_echo_server select_echo_server callback_echo_server
    generator_echo_server coroutine_echo_server async_echo_server uring_echo_server image_server
    image_downloader)
  for optional in asio_echo_server asio_uring_echo_server microbenchmarks; do
    has_target default "$optional" && targets+=("$optional")
  done
  build_targets default "${targets[@]}"
fi
bin="$build_dir/bin"
out="$build_dir/bench"
rm -rf "$out"
mkdir -p "$out/logs"
[ -x "$bin/echo_load" ] || {
  echo "bench.sh: no $bin/echo_load: build first" >&2
  exit 1
}

python=""
if command -v python3 >/dev/null; then
  # The real interpreter, not a wrapper script (valgrind must see python itself).
  python="$(python3 -c 'import sys; print(sys.executable)')"
else
  note "python3 not found: the asyncio reference is skipped"
fi
if $callgrind && ! command -v valgrind >/dev/null; then
  callgrind=false
  note "valgrind not found: no instruction counts"
fi
count_system_calls=true
if ! command -v strace >/dev/null; then
  count_system_calls=false
  note "strace not found: no system calls per message"
fi

# Each connection is a descriptor, in the server and in echo_load: raise the
# soft limit to the hard one (children inherit it).
hard_limit="$(ulimit -Hn)"
[ "$hard_limit" = unlimited ] && hard_limit=1048576
ulimit -n "$hard_limit" 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((idle_connections + 100)) ]; then
  idle_connections=$(($(ulimit -n) - 100))
  note "the descriptor limit (ulimit -n) is $(ulimit -n), hard limit included:" \
    "idle memory is measured with $idle_connections connections, not more"
fi

# ---- The servers ----
server_ids=(l1 l2 l3e l3p l4 l5 l6 l7 asio asio_uring asyncio)
declare -A server_name=(
  [l1]="lesson 1 (blocking)" [l2]="lesson 2 (select)" [l3e]="lesson 3 (epoll)"
  [l3p]="lesson 3 (poll)" [l4]="lesson 4 (generators)" [l5]="lesson 5 (coroutines)"
  [l6]="lesson 6 (async/await)" [l7]="lesson 7 (io_uring)" [asio]="asio, C++20 coroutines"
  [asio_uring]="asio on io_uring" [asyncio]="Python asyncio"
  [l3t]="lesson 3 (epoll), --timeline on"
)
# Lesson 1 serves one client at a time; select() handles descriptors below
# FD_SETSIZE (1024) only, and the server holds a few itself.
declare -A max_connections=([l1]=1 [l2]=1000)

# Sets `server_args` to the server's command line (without --port).
server_command() {
  case "$1" in
    l1) server_args=("$bin/blocking_echo_server") ;;
    l2) server_args=("$bin/select_echo_server") ;;
    l3e) server_args=("$bin/callback_echo_server" --backend epoll) ;;
    l3p) server_args=("$bin/callback_echo_server" --backend poll) ;;
    l3t) server_args=("$bin/callback_echo_server" --backend epoll --timeline "$out/logs/timeline.json") ;;
    l4) server_args=("$bin/generator_echo_server") ;;
    l5) server_args=("$bin/coroutine_echo_server") ;;
    l6) server_args=("$bin/async_echo_server") ;;
    l7) server_args=("$bin/uring_echo_server") ;;
    asio) server_args=("$bin/asio_echo_server") ;;
    asio_uring) server_args=("$bin/asio_uring_echo_server") ;;
    asyncio) server_args=("$python" "$REPO_ROOT/bench/asyncio_echo_server.py") ;;
  esac
}

# Where io_uring is refused, lesson 7 says why in one line and exits 1 at
# once; where it is allowed, it is still listening after a second.
io_uring_refusal=""
if [ -x "$bin/uring_echo_server" ]; then
  io_uring_refusal="$(timeout 1 "$bin/uring_echo_server" --port 0 2>&1 >/dev/null)" || true
fi

available() {
  case "$1" in
    asyncio) [ -n "$python" ] ;;
    l7 | asio_uring)
      server_command "$1"
      [ -x "${server_args[0]}" ] && [ -z "$io_uring_refusal" ]
      ;;
    *)
      server_command "$1"
      [ -x "${server_args[0]}" ]
      ;;
  esac
}

# start_server LOG [WRAPPER...] -- COMMAND...: starts it in the background with
# --port 0, its output in files (a server with 10,000 clients prints a lot),
# and waits for its "listening on" line. Sets server_pid and server_port.
start_server() {
  local log="$out/logs/$1"
  shift
  : >"$log.out" # exists before the server writes to it, for grep below
  "$@" --port 0 >"$log.out" 2>"$log.err" &
  server_pid=$!
  local tries
  for ((tries = 0; tries < 600; tries++)); do # 60 s: valgrind starts slowly
    if grep -q '^listening on ' "$log.out"; then
      server_port="$(sed -n '1s/^listening on .*://p' "$log.out")"
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  broken "$(basename "$log"): did not start: $(tail -n 1 "$log.err")"
  return 1
}

# SIGTERM must end a server with status 0 (the contract); 30 s at most.
# Under valgrind a signal waits until the system call it interrupts returns,
# and io_uring_enter() returns only when a request completes: after a second,
# one connection gives lesson 7's loop that completion.
stop_server() {
  local name="$1" tries status=0
  kill -TERM "$server_pid" 2>/dev/null || true
  for ((tries = 0; tries < 300; tries++)); do
    kill -0 "$server_pid" 2>/dev/null || break
    [ "$tries" -ne 10 ] || (exec 3<>"/dev/tcp/127.0.0.1/$server_port") 2>/dev/null || true
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" || status=$?
  [ "$status" -eq 0 ] || broken "$name: exited with status $status on SIGTERM"
}

# The server's CPU time so far, user and system, in clock ticks (/proc/PID/stat
# fields 14 and 15; the name in parentheses may contain spaces, so cut it off).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 "," $13 }'; }
resident_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# "messages/s: 1234" and the like, from echo_load's report.
field() { awk -F': ' -v key="$1" '$1 == key { split($2, words, " "); print words[1] }' "$2"; }

throughput_csv="$out/throughput.csv"
echo "server,connections,round,messages,seconds,messages_per_s,p50_us,p99_us,errors,user_ticks,system_ticks" >"$throughput_csv"

# One round: a server process serves each connection count in turn.
measure_throughput() {
  local id="$1" round="$2" connections result="$out/logs/load.txt"
  server_command "$id"
  start_server "$id" "${server_args[@]}" || return 0
  for connections in "${connection_counts[@]}"; do
    [ "$connections" -le "${max_connections[$id]:-1000000}" ] || continue
    local before after status=0
    before="$(cpu_ticks "$server_pid")"
    "$bin/echo_load" --port "$server_port" --connections "$connections" \
      --size "$message_size" --duration-ms "$duration_ms" >"$result" 2>>"$out/logs/$id.load.err" ||
      status=$?
    after="$(cpu_ticks "$server_pid")"
    [ "$status" -eq 0 ] || broken "${server_name[$id]} at $connections connections:" \
      "$(tail -n 1 "$out/logs/$id.load.err")"
    echo "$id,$connections,$round,$(field messages "$result"),$(field seconds "$result")\
,$(field messages/s "$result"),$(field 'p50 latency' "$result"),$(field 'p99 latency' "$result")\
,$(field errors "$result"),$((${after%,*} - ${before%,*})),$((${after#*,} - ${before#*,}))" \
      >>"$throughput_csv"
  done
  stop_server "${server_name[$id]}"
}

idle_csv="$out/idle.csv"
echo "server,connections,rss_before_kib,rss_holding_kib" >"$idle_csv"

# A fresh server; its resident memory before and while echo_load holds the
# connections open (each echoed once, so the server has accepted it).
measure_idle_memory() {
  local id="$1" connections="$idle_connections" result="$out/logs/idle.txt"
  if [ "$connections" -gt "${max_connections[$id]:-1000000}" ]; then
    [ "${max_connections[$id]}" -gt 1 ] || return 0
    connections="${max_connections[$id]}"
  fi
  server_command "$id"
  start_server "$id.idle" "${server_args[@]}" || return 0
  local before holding="" tries load_pid status=0 hold_fd
  before="$(resident_kib "$server_pid")"
  local fifo="$out/logs/hold.fifo"
  rm -f "$fifo"
  mkfifo "$fifo"
  "$bin/echo_load" --port "$server_port" --connections "$connections" --idle \
    --duration-ms 120000 --timeout-ms 30000 <"$fifo" >"$result" 2>>"$out/logs/$id.load.err" &
  load_pid=$!
  : >"$result"
  exec {hold_fd}>"$fifo" # echo_load holds its connections until this closes
  for ((tries = 0; tries < 1200; tries++)); do
    if grep -q '^holding ' "$result"; then
      holding="$(resident_kib "$server_pid")"
      break
    fi
    kill -0 "$load_pid" 2>/dev/null || break
    sleep 0.1
  done
  exec {hold_fd}>&-
  wait "$load_pid" || status=$?
  if [ "$status" -ne 0 ] || [ -z "$holding" ]; then
    broken "${server_name[$id]}: $connections idle connections: $(tail -n 1 "$out/logs/$id.load.err")"
  else
    echo "$id,$connections,$before,$holding" >>"$idle_csv"
  fi
  stop_server "${server_name[$id]}"
}

syscalls_csv="$out/syscalls.csv"
echo "server,connections,messages,system_calls" >"$syscalls_csv"

# A fresh server, strace attached to it (-f: its threads too, as asio may
# have some), while echo_load runs; strace writes its table when interrupted.
measure_system_calls() {
  local id="$1" result="$out/logs/syscalls.txt" table="$out/logs/strace.$1.txt" strace_pid tries
  server_command "$id"
  start_server "$id.strace" "${server_args[@]}" || return 0
  : >"$out/logs/strace.$id.err" # exists before strace writes to it, for grep below
  strace -c -f -o "$table" -p "$server_pid" 2>"$out/logs/strace.$id.err" &
  strace_pid=$!
  for ((tries = 0; tries < 100; tries++)); do # "Process N attached"
    grep -q attached "$out/logs/strace.$id.err" && break
    sleep 0.1
  done
  if ! grep -q attached "$out/logs/strace.$id.err"; then
    note "strace could not attach to ${server_name[$id]}: $(tail -n 1 "$out/logs/strace.$id.err")"
    kill "$strace_pid" 2>/dev/null || true
    wait "$strace_pid" 2>/dev/null || true
    stop_server "${server_name[$id]}"
    return 0
  fi
  "$bin/echo_load" --port "$server_port" --connections "$strace_connections" \
    --size "$message_size" --messages "$strace_messages" --duration-ms 300000 \
    --timeout-ms 60000 >"$result" 2>>"$out/logs/$id.load.err" ||
    broken "${server_name[$id]} under strace: $(tail -n 1 "$out/logs/$id.load.err")"
  kill -INT "$strace_pid"
  wait "$strace_pid" || true
  stop_server "${server_name[$id]}"
  echo "$id,$strace_connections,$(field messages "$result"),$(awk '$NF == "total" { print $4 }' "$table")" \
    >>"$syscalls_csv"
}

callgrind_csv="$out/callgrind.csv"
echo "server,connections,run,messages,instructions" >"$callgrind_csv"

# count_instructions ID CONNECTIONS RUN THINK_TIME_US MESSAGES...: one server
# under callgrind per message count, a line of callgrind.csv for each.
count_instructions() {
  local id="$1" connections="$2" run="$3" think_time="$4" messages
  shift 4
  for messages in "$@"; do
    local profile="$out/logs/callgrind.$id.$connections.$run.$messages.out"
    start_server "$id.callgrind.$connections.$run.$messages" valgrind --tool=callgrind \
      --callgrind-out-file="$profile" "${server_args[@]}" || return 0
    "$bin/echo_load" --port "$server_port" --connections "$connections" --size "$message_size" \
      --messages "$messages" --think-time-us "$think_time" --duration-ms 300000 \
      --timeout-ms 60000 >/dev/null 2>>"$out/logs/$id.load.err" ||
      broken "${server_name[$id]} under callgrind: $(tail -n 1 "$out/logs/$id.load.err")"
    stop_server "${server_name[$id]} under callgrind"
    echo "$id,$connections,$run,$messages,$(awk '/^summary:/ { print $2 }' "$profile")" \
      >>"$callgrind_csv"
  done
}

measure_instructions() {
  local id="$1" run counts=("${callgrind_messages[@]}") think_time="$callgrind_think_time_us"
  local busy_counts=("${callgrind_busy_messages[@]}")
  if [ "$id" = asyncio ]; then
    counts=("${python_callgrind_messages[@]}")
    think_time="$python_callgrind_think_time_us"
    busy_counts=("${python_callgrind_busy_messages[@]}")
  fi
  server_command "$id"
  count_instructions "$id" 1 1 "$think_time" "${counts[@]}"
  [ "$callgrind_busy_connections" -le "${max_connections[$id]:-1000000}" ] || return 0
  for ((run = 1; run <= callgrind_busy_runs; run++)); do
    count_instructions "$id" "$callgrind_busy_connections" "$run" 0 "${busy_counts[@]}"
  done
}

measured_ids=()
for id in "${server_ids[@]}"; do
  if available "$id"; then
    measured_ids+=("$id")
  elif [ "$id" != asyncio ]; then
    note "${server_name[$id]}: not built yet, skipped"
  fi
done
# Rounds: each runs every server once, so that a burst of other work on the
# machine slows every server a little rather than one server a lot.
for ((round = 1; round <= rounds; round++)); do
  for id in "${measured_ids[@]}"; do
    progress "${server_name[$id]}: throughput, round $round of $rounds"
    measure_throughput "$id" "$round"
  done
done
# Memory and instruction counts do not depend on what else the machine does.
for id in "${measured_ids[@]}"; do
  if [ "${max_connections[$id]:-2}" -gt 1 ]; then
    progress "${server_name[$id]}: idle memory"
    measure_idle_memory "$id"
  fi
  if $count_system_calls && [ "${max_connections[$id]:-1000000}" -ge "$strace_connections" ]; then
    progress "${server_name[$id]}: system calls per message (strace)"
    measure_system_calls "$id"
  fi
  if $callgrind; then
    progress "${server_name[$id]}: instructions per message (callgrind)"
    measure_instructions "$id"
  fi
done
# What --timeline costs when on; off, a narration point is one test of a flag.
if $callgrind && available l3e; then
  progress "${server_name[l3t]}: instructions per message (callgrind)"
  server_command l3t
  count_instructions l3t 1 1 "$callgrind_think_time_us" "${callgrind_messages[@]}"
fi

# ---- From raw runs to tables ----
# One awk program turns the CSV files into the Markdown tables, and the
# numbers behind them into summary.csv. (mawk, Debian's awk, has no sort: the
# median run is found by a small insertion sort.)
echo_tables() {
  local names="" id
  for id in "${server_ids[@]}"; do names+="${server_name[$id]};"; done
  awk -F, -v order="${server_ids[*]}" -v names="$names" -v ticks="$(getconf CLK_TCK)" \
    -v idle="$idle_connections" -v busy="$callgrind_busy_connections" \
    -v summary="$out/summary.csv" '
    function median_run(key,    i, j, n, swap) {
      n = runs[key]
      for (i = 1; i <= n; i++) sorted[i] = i
      for (i = 2; i <= n; i++)
        for (j = i; j > 1 && run_rate[key, sorted[j]] < run_rate[key, sorted[j - 1]]; j--) {
          swap = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = swap
        }
      return sorted[int((n + 1) / 2)]
    }
    function median_count(id, connections,    i, j, n, swap, values) {
      n = runs_counted[id, connections]
      for (i = 1; i <= n; i++) values[i] = per_run[id, connections, i]
      for (i = 2; i <= n; i++)
        for (j = i; j > 1 && values[j] < values[j - 1]; j--) { swap = values[j]; values[j] = values[j - 1]; values[j - 1] = swap }
      return n == 0 ? "" : sprintf("%.0f", values[int((n + 1) / 2)])
    }
    function show(value) { return value == "" ? "–" : value }
    function ratio(a, b) { return (a == "" || b == "" || a == "error" || b == "error" || b + 0 == 0) ? "–" : sprintf("%.2f", a / b) }
    FILENAME ~ /throughput/ && FNR > 1 {
      key = $1 SUBSEP $2
      n = ++runs[key]
      run_rate[key, n] = $6; run_p99[key, n] = $8; run_messages[key, n] = $4
      run_user[key, n] = $10; run_system[key, n] = $11
      if ($9 != 0) failed[key] = 1
    }
    # Two profiles per run, a short one and a long one: their difference,
    # divided by the difference in messages, is the count per message of a run.
    FILENAME ~ /callgrind/ && FNR > 1 {
      key = $1 SUBSEP $2 SUBSEP $3
      if (key in first_messages) {
        if ($5 != "" && first_instructions[key] != "") {
          n = ++runs_counted[$1, $2]
          per_run[$1, $2, n] = ($5 - first_instructions[key]) / ($4 - first_messages[key])
        }
      } else {
        first_messages[key] = $4; first_instructions[key] = $5
      }
    }
    FILENAME ~ /syscalls/ && FNR > 1 && $3 > 0 && $4 != "" { calls[$1] = sprintf("%.2f", $4 / $3) }
    FILENAME ~ /idle/ && FNR > 1 {
      memory[$1] = sprintf("%.2f", ($4 - $3) / $2)
      if ($2 != idle) memory[$1] = memory[$1] " (" $2 " connections)"
    }
    END {
      count = split(order, ids, " "); split(names, labels, ";")
      split("1 64 1000", points, " ")
      for (i = 1; i <= count; i++) {
        id = ids[i]
        for (p = 1; p <= 3; p++) {
          key = id SUBSEP points[p]
          if (!(key in runs)) continue
          m = median_run(key)
          rate[key] = failed[key] ? "error" : sprintf("%.0f", run_rate[key, m])
          p99[key] = run_p99[key, m]
          if ((points[p] == 64 || id == "l1") && run_messages[key, m] > 0) {
            user_time[id] = sprintf("%.2f", run_user[key, m] * 1e6 / ticks / run_messages[key, m])
            system_time[id] = sprintf("%.2f", run_system[key, m] * 1e6 / ticks / run_messages[key, m])
          }
        }
        instructions[id] = median_count(id, 1)
        busy_instructions[id] = median_count(id, busy)
      }
      print "| server | 1 connection | 64 | 1,000 | 64: × lesson 3 | 64: × asio | 1,000: × asio | p99 at 64 (µs) | p99 at 1,000 (µs) |"
      print "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
      for (i = 1; i <= count; i++) {
        id = ids[i]; a = id SUBSEP 1; b = id SUBSEP 64; c = id SUBSEP 1000
        if (!(a in runs)) continue
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", labels[i], show(rate[a]), show(rate[b]), show(rate[c]),
          ratio(rate[b], rate["l3e", 64]), ratio(rate[b], rate["asio", 64]), ratio(rate[c], rate["asio", 1000]), show(p99[b]), show(p99[c])
      }
      print ""
      print "| server | CPU µs per message: user | system | system calls per message at " busy " | instructions per message: 1 connection | × lesson 3 | × asio | " busy " busy (median) | × lesson 3 | KiB per idle connection |"
      print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
      print "server,messages_per_s_1,messages_per_s_64,messages_per_s_1000,p99_us_64,p99_us_1000,cpu_user_us_per_message,cpu_system_us_per_message,system_calls_per_message_64,instructions_per_message,instructions_per_message_busy,kib_per_idle_connection" > summary
      for (i = 1; i <= count; i++) {
        id = ids[i]
        if (!((id SUBSEP 1) in runs)) continue
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", labels[i], show(user_time[id]), show(system_time[id]), show(calls[id]), show(instructions[id]),
          ratio(instructions[id], instructions["l3e"]), ratio(instructions[id], instructions["asio"]),
          show(busy_instructions[id]), ratio(busy_instructions[id], busy_instructions["l3e"]), show(memory[id])
        printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", id, rate[id, 1], rate[id, 64], rate[id, 1000], p99[id, 64], p99[id, 1000],
          user_time[id], system_time[id], calls[id], instructions[id], busy_instructions[id], memory[id] > summary
      }
      timeline = median_count("l3t", 1)
      if (timeline != "") {
        print ""
        print "| lesson 3 (epoll), instructions per message at 1 connection | --timeline off | on | on × off |"
        print "|---|--:|--:|--:|"
        printf "| | %s | %s | %s |\n", show(instructions["l3e"]), timeline, ratio(timeline, instructions["l3e"])
      }
    }' "$throughput_csv" "$callgrind_csv" "$syscalls_csv" "$idle_csv"
}

# ---- The downloader: one image_server, the downloader in each mode ----
downloads_csv="$out/downloads.csv"
echo "mode,max_parallel,seconds" >"$downloads_csv"
measure_downloads() {
  if [ ! -x "$bin/image_server" ] || [ ! -x "$bin/image_downloader" ]; then
    note "lesson 6's image_server or image_downloader is not built yet: no download comparison"
    return 0
  fi
  start_server image_server "$bin/image_server" --latency-ms "$download_latency_ms" || return 0
  local run mode parallel result="$out/logs/download.txt"
  for run in sync:1 async:1 async:5 async:20; do
    mode="${run%:*}"
    parallel="${run#*:}"
    if "$bin/image_downloader" --url "http://127.0.0.1:$server_port/image" --count 20 \
      --mode "$mode" --max-parallel "$parallel" --out "$out/images" >"$result" \
      2>>"$out/logs/image_downloader.err"; then
      printf '%s,%s,%.2f\n' "$mode" "$parallel" \
        "$(sed -n 's/.* images took: \([0-9.]*\) seconds\.$/\1/p' "$result")" >>"$downloads_csv"
    else
      broken "image_downloader --mode $mode --max-parallel $parallel:" \
        "$(tail -n 1 "$out/logs/image_downloader.err")"
    fi
  done
  stop_server image_server
  rm -rf "$out/images"
}

echo_downloads() {
  awk -F, 'FNR > 1 { mode[++n] = $1; parallel[n] = $2; seconds[n] = $3; if ($1 == "sync") sync = $3 }
    END {
      print "| way | transfers at once | seconds | × faster than sync |"
      print "|---|--:|--:|--:|"
      for (i = 1; i <= n; i++)
        printf "| %s | %s | %s | %s |\n", mode[i], parallel[i], seconds[i],
          (sync != "" && seconds[i] > 0) ? sprintf("%.1f", sync / seconds[i]) : "–"
    }' "$downloads_csv"
}

# ---- Microbenchmarks (Google Benchmark) ----
microbenchmarks_csv="$out/microbenchmarks.csv"
measure_microbenchmarks() {
  if [ ! -x "$bin/microbenchmarks" ]; then
    note "bench/microbenchmarks is not built (libbenchmark-dev missing?): skipped"
    return 0
  fi
  "$bin/microbenchmarks" "${benchmark_flags[@]}" --benchmark_out="$microbenchmarks_csv" \
    --benchmark_out_format=csv >"$out/logs/microbenchmarks.txt" 2>&1 ||
    broken "microbenchmarks: $(tail -n 1 "$out/logs/microbenchmarks.txt")"
}

echo_microbenchmarks() {
  [ -s "$microbenchmarks_csv" ] || return 0
  # Google Benchmark's CSV: a header line "name,iterations,real_time,cpu_time,time_unit,...".
  awk -F, 'BEGIN { print "| benchmark | CPU time per operation |"; print "|---|--:|" }
    started { gsub(/"/, "", $1); printf "| %s | %.1f %s |\n", $1, $4, $5 }
    $1 == "name" { started = 1 }' "$microbenchmarks_csv"
}

# ---- The plot: messages/s against connections, one line per server ----
plot_throughput() {
  if ! command -v gnuplot >/dev/null; then
    note "gnuplot not found: no plot"
    return 0
  fi
  local plots=() id data
  # The references dashed, so the lessons stand out.
  local -A plot_style=(
    [l1]="lc rgb '#7f7f7f'" [l2]="lc rgb '#1f77b4'" [l3e]="lc rgb '#ff7f0e'"
    [l3p]="lc rgb '#bcbd22'" [l4]="lc rgb '#2ca02c'" [l5]="lc rgb '#d62728'"
    [l6]="lc rgb '#9467bd'" [l7]="lc rgb '#17becf'" [asio]="lc rgb '#000000' dt 2"
    [asio_uring]="lc rgb '#7f7f7f' dt 2" [asyncio]="lc rgb '#8c564b' dt 2"
  )
  for id in "${server_ids[@]}"; do
    data="$out/logs/plot.$id.dat"
    awk -F, -v id="$id" '$1 == id { split("1 64 1000", points, " ")
      for (p = 1; p <= 3; p++) if ($(p + 1) != "" && $(p + 1) != "error") print points[p], $(p + 1) }' \
      "$out/summary.csv" >"$data"
    [ -s "$data" ] && plots+=("'$data' using 1:2 with linespoints ${plot_style[$id]} title '${server_name[$id]}'")
  done
  [ ${#plots[@]} -gt 0 ] || return 0
  local joined
  joined="$(printf '%s, ' "${plots[@]}")"
  gnuplot <<PLOT || note "gnuplot failed: no plot"
set terminal pngcairo size 900,540 font ",10"
set output '$out/throughput.png'
set title 'Echo servers: $message_size-byte request/response on loopback'
set xlabel 'connections'
set ylabel 'messages per second'
set logscale x
set xrange [0.7:1500]
set yrange [0:*]
set format y '%.0s%c'
set key outside right noenhanced  # io_uring, not io with a subscript u
set grid
plot ${joined%, }
PLOT
}

progress "downloads"
measure_downloads
progress "microbenchmarks"
measure_microbenchmarks

{
  echo "## Echo servers: messages per second"
  echo
  echo "$message_size-byte request/response on loopback, $duration_ms ms per run, median of" \
    "$rounds round(s); CPU time per message at 64 connections (lesson 1: at 1);" \
    "system calls per message at $strace_connections busy connections ($strace_messages messages" \
    "under strace -c -f); instructions per message at 1 connection pausing after each echo," \
    "and at $callgrind_busy_connections busy ones (the median of $callgrind_busy_runs runs)."
  echo
  echo_tables
  echo
  echo "## Downloading 20 images at $download_latency_ms ms latency"
  echo
  echo_downloads
  echo
  echo "## Microbenchmarks"
  echo
  echo_microbenchmarks
} >"$out/report.md"
$quick || plot_throughput
cat "$out/report.md"
echo
echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
  "$(. /etc/os-release && echo "$PRETTY_NAME"), $(g++ --version | head -n 1)"
echo "Raw results: $out/*.csv; plot: $out/throughput.png; logs: $out/logs/"
[ -z "$io_uring_refusal" ] || note "io_uring is refused here: lesson 7 and asio on io_uring are skipped ($io_uring_refusal)"
for line in "${notes[@]}"; do echo "note: $line"; done
if [ ${#failures[@]} -gt 0 ]; then
  for line in "${failures[@]}"; do echo "BROKEN: $line"; done
  exit 1
fi
