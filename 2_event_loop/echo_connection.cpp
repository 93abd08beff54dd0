#include "2_event_loop/echo_connection.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <utility>

namespace lesson2 {

Connection::Connection(common::FileDescriptor socket)
    : socket_(std::move(socket)), name_(common::peer_name(socket_.get())) {}

bool Connection::serve(bool readable, bool writable, const common::Tracer& trace) {
  if (wants_write()) return !writable || send_unsent(trace);
  return !readable || receive(trace);
}

// Python: request = client_socket.recv(4096); client_socket.send(response)
// Our response is the request, read up to 1 KiB at a time
// (common::receive_buffer_size says why).
bool Connection::receive(const common::Tracer& trace) {
  const std::optional<std::size_t> received = common::receive_some(fd(), buffer_);
  if (!received) {
    trace.read(fd(), "the client closed the connection (or reset it)");
    return false;
  }
  if (*received == 0) return true;  // nothing after all: the readiness was stale
  trace.read(fd(), "received ", *received, " bytes");
  unsent_ = std::span(buffer_).first(*received);
  return send_unsent(trace);
}

// Usually the socket takes it all at once; the rest waits until it is
// writable again.
bool Connection::send_unsent(const common::Tracer& trace) {
  const std::optional<std::size_t> sent = common::send_some(fd(), unsent_);
  if (!sent) {
    trace.note(fd(), "send() failed: ", std::strerror(errno));  // EPIPE, ECONNRESET
    return false;
  }
  unsent_ = unsent_.subspan(*sent);
  trace.write(fd(), "sent ", *sent, " bytes back, ", unsent_.size(), " still to send");
  return true;
}

}  // namespace lesson2
