#include "2_event_loop/echo_connection.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

namespace lesson2 {

Connection::Connection(common::FileDescriptor socket)
    : socket_(std::move(socket)), name_(common::peer_name(socket_.get())) {}

// Python: request = client_socket.recv(4096); client_socket.send(response)
bool Connection::receive(std::span<char> buffer, const common::Tracer& trace) {
  ssize_t received = 0;
  do {
    received = recv(fd(), buffer.data(), buffer.size(), 0);
  } while (received < 0 && errno == EINTR);
  if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;  // nothing after all
  if (received < 0) {
    trace.note(fd(), "recv() failed: ", std::strerror(errno));  // ECONNRESET, most likely
    return false;
  }
  if (received == 0) {
    trace.read(fd(), "the client has finished sending");
    input_ended_ = true;
    return wants_write();  // it may still be reading the echo we owe it
  }
  trace.read(fd(), "received ", received, " bytes");
  const std::string_view bytes(buffer.data(), static_cast<std::size_t>(received));
  // Bytes that arrive behind older unsent ones wait behind them: order matters.
  if (wants_write()) {
    pending_output_.append(bytes);
    return true;
  }
  return send_or_keep(bytes, trace);
}

bool Connection::send_pending(const common::Tracer& trace) {
  const std::optional<std::size_t> sent = common::send_some(fd(), pending_output_);
  if (!sent) {
    trace.note(fd(), "send() failed: ", std::strerror(errno));
    return false;
  }
  pending_output_.erase(0, *sent);
  trace.write(fd(), "sent ", *sent, " pending bytes, ", pending_output_.size(), " still pending");
  if (wants_write()) return true;
  pending_output_.shrink_to_fit();  // gives the memory back: an idle client holds no buffer
  return !input_ended_;
}

// The common case sends straight from the loop's buffer and copies nothing;
// only what the socket does not take now is kept.
bool Connection::send_or_keep(std::string_view bytes, const common::Tracer& trace) {
  const std::optional<std::size_t> sent = common::send_some(fd(), bytes);
  if (!sent) {
    trace.note(fd(), "send() failed: ", std::strerror(errno));  // EPIPE, ECONNRESET
    return false;
  }
  if (*sent == bytes.size()) {
    trace.write(fd(), "sent them all back");
    return true;
  }
  pending_output_.append(bytes.substr(*sent));
  trace.write(fd(), "sent ", *sent, " back; ", pending_output_.size(),
              " wait until the socket is writable");
  return true;
}

}  // namespace lesson2
