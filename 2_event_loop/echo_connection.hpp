// One client of an event-loop echo server (lessons 2 and 3): its socket, its
// name, its receive buffer, and the echo we still owe it.
//
// The loop calls serve() when the socket is ready; wants_read() and
// wants_write() tell the loop what to wait for next. Nothing here ever
// blocks: the socket is non-blocking, and what send() does not take now
// stays in the buffer until the socket is writable again.
#pragma once

#include <array>
#include <span>
#include <string>

#include "common/net.hpp"

namespace lesson2 {

class Connection {
 public:
  explicit Connection(common::FileDescriptor socket);
  // unsent_ points into buffer_, so a Connection stays where it was made.
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return socket_.get(); }
  const std::string& name() const { return name_; }
  // One or the other: we read again only once all we read has been sent
  // back, so a client that sends without reading stops being read, and TCP
  // slows it down instead of our memory growing (backpressure).
  bool wants_read() const { return unsent_.empty(); }
  bool wants_write() const { return !unsent_.empty(); }

  // The work of Python's send_message(client_socket): receives and echoes
  // when we wait to read and the socket is readable; sends more of the echo
  // when we wait to write and it is writable. Returns false when the
  // connection is finished and the loop should close it.
  bool serve(bool readable, bool writable);

 private:
  bool receive();
  bool send_unsent();

  common::FileDescriptor socket_;
  std::string name_;
  std::array<char, common::receive_buffer_size> buffer_;
  std::span<const char> unsent_;  // the end of buffer_ that send() has not taken yet
};

}  // namespace lesson2
