// Ctrl-C (SIGINT) and SIGTERM become an orderly stop instead of sudden death,
// and a peer that vanishes mid-write no longer kills us with SIGPIPE.
//
// Two ways to notice the stop, one per style of program:
// - blocking code (lesson 1): the signal interrupts accept()/recv() with
//   EINTR, because the handler is installed without SA_RESTART; then it checks
//   stop_requested(). A signal that lands after that check but before the
//   call starts interrupts nothing, so the call would sleep on: to close that
//   gap the handler also shuts down the socket named by
//   set_blocking_socket(), and a call on a shut-down socket returns at once;
// - event loops (lessons 2-6): stop_fd() is the read end of a "self-pipe" that
//   the handler writes one byte into, so it turns readable like any socket.
#pragma once

namespace common {

void install_stop_handlers();
bool stop_requested();
int stop_fd();

// Blocking code names the socket it is about to block on (-1: none) before it
// checks stop_requested(); it must name another before closing this one.
void set_blocking_socket(int fd);

}  // namespace common
