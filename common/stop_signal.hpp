// Ctrl-C (SIGINT), SIGTERM and SIGHUP (sent when the terminal closes) become
// an orderly stop instead of sudden death, and a peer that vanishes mid-write
// no longer kills us with SIGPIPE.
//
// Two ways to notice the stop, one per style of program:
// - event loops (lessons 2-6): stop_fd() is the read end of a "self-pipe" that
//   the handler writes one byte into, so it turns readable like any socket;
// - blocking code (lesson 1): the handler shuts down the socket that a
//   ShutDownOnStop names, and a call on a shut-down socket returns at once.
#pragma once

namespace common {

// SIGHUP that comes ignored (nohup starts a program so) stays ignored.
void install_stop_handlers();
bool stop_requested();
int stop_fd();

// While one lives, a stop shuts `fd` down, so that accept(), recv() or send()
// on it returns at once. A signal interrupts a call that is blocked already
// (EINTR); one that lands just before the call begins interrupts nothing,
// and the call would sleep on, but for the shutdown. A stop that came before
// it was made shuts the socket down at once. Nested ones name the innermost
// socket; the last to go must go before its socket closes.
class ShutDownOnStop {
 public:
  explicit ShutDownOnStop(int fd);
  ~ShutDownOnStop();
  ShutDownOnStop(const ShutDownOnStop&) = delete;
  ShutDownOnStop& operator=(const ShutDownOnStop&) = delete;

 private:
  int previous_;  // named again when this one goes
};

}  // namespace common
