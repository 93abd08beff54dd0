// Ctrl-C (SIGINT) and SIGTERM become an orderly stop instead of sudden death,
// and a peer that vanishes mid-write no longer kills us with SIGPIPE.
//
// Two ways to notice the stop, one per style of program:
// - blocking code (lesson 1): the signal interrupts accept()/recv() with
//   EINTR, because the handler is installed without SA_RESTART; then it checks
//   stop_requested();
// - event loops (lessons 2-6): stop_fd() is the read end of a "self-pipe" that
//   the handler writes one byte into, so it turns readable like any socket.
#pragma once

namespace common {

void install_stop_handlers();
bool stop_requested();
int stop_fd();

}  // namespace common
