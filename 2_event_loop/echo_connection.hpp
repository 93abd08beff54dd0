// One client of an event-loop echo server (lessons 2 and 3): its socket, its
// name, and the echo we still owe it.
//
// The loop calls receive() when the socket is readable and send_pending()
// when it is writable; wants_read() and wants_write() tell the loop what to
// wait for next. Nothing here ever blocks: the socket is non-blocking, and
// whatever send() does not take now waits in pending output.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "common/command_line.hpp"
#include "common/net.hpp"

namespace lesson2 {

// Past this much unsent echo we stop reading from the client until it drains
// (backpressure), so a client that sends without reading cannot grow our
// memory without bound.
inline constexpr std::size_t max_pending_output = 1024 * 1024;

class Connection {
 public:
  explicit Connection(common::FileDescriptor socket);

  int fd() const { return socket_.get(); }
  const std::string& name() const { return name_; }
  bool wants_read() const { return !input_ended_ && pending_output_.size() < max_pending_output; }
  bool wants_write() const { return !pending_output_.empty(); }

  // recv() once into the loop's shared buffer and echo what came. Returns
  // false when the connection is finished and the loop should close it.
  bool receive(std::span<char> buffer, const common::Tracer& trace);
  // send() more of the pending output. Returns false as receive() does.
  bool send_pending(const common::Tracer& trace);

 private:
  bool send_or_keep(std::string_view bytes, const common::Tracer& trace);

  common::FileDescriptor socket_;
  std::string name_;
  // Echo that send() did not take yet. Empty, and so holding no memory, while
  // the client is idle: ten thousand idle clients cost no buffers.
  std::string pending_output_;
  bool input_ended_ = false;  // the client has sent all it will; finish the echo, then close
};

}  // namespace lesson2
