#include "2_event_loop/echo_connection.hpp"

#include <cstddef>
#include <optional>
#include <utility>

namespace lesson2 {

Connection::Connection(common::FileDescriptor socket)
    : socket_(std::move(socket)), name_(common::peer_name(socket_.get())) {}

bool Connection::serve(bool readable, bool writable) {
  if (wants_write()) return !writable || send_unsent();
  return !readable || receive();
}

// Python: request = client_socket.recv(4096); client_socket.send(response)
// Our response is the request, read up to 1 KiB at a time
// (common::receive_buffer_size says why).
bool Connection::receive() {
  const std::optional<std::size_t> received = common::receive_some(fd(), buffer_);
  if (!received) return false;      // the client closed the connection, or reset it
  if (*received == 0) return true;  // nothing after all: the readiness was stale
  unsent_ = std::span(buffer_).first(*received);
  return send_unsent();
}

// Usually the socket takes it all at once; the rest waits until it is
// writable again.
bool Connection::send_unsent() {
  const std::optional<std::size_t> sent = common::send_some(fd(), unsent_);
  if (!sent) return false;  // EPIPE, ECONNRESET: the client is gone
  unsent_ = unsent_.subspan(*sent);
  return true;
}

}  // namespace lesson2
