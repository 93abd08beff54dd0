// Just enough HTTP/1.1 for image_server, on the lesson's runtime: read a GET
// request's header, write an answer (a picture a few rows at a time), hang
// up, and a Deadline to hang up on a client too slow for any of them. No
// request bodies, no chunked encoding.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "6_async_await/runtime/runtime.hpp"
#include "6_async_await/support/bitmap.hpp"

namespace lesson6 {

constexpr std::size_t max_header_size = 8 * 1024;
constexpr std::string_view end_of_header = "\r\n\r\n";

constexpr std::chrono::seconds header_time_limit{5};  // to send a whole request header
constexpr std::chrono::seconds write_time_limit{10};  // to take a whole answer

struct Request {
  std::string method;
  std::string target;
  bool keep_alive = false;  // whether another request may follow on this connection
};

// "GET /image HTTP/1.1", then one "Name: value" line per header (the header
// comes without its blank last line). nullopt when it is not that shape.
std::optional<Request> parse_request(std::string_view header);

// The status line ("200 OK"), the headers and a blank line: what comes
// before a body of `body_size` bytes.
std::string make_head(std::string_view status, std::string_view content_type, std::size_t body_size,
                      bool keep_alive);

// The head, then the body.
std::string make_response(std::string_view status, std::string_view content_type,
                          std::string_view body, bool keep_alive);

// Hangs up on a client that takes too long. When the time is up, shutdown()
// ends the connection (--trace says so), so whatever its task waits for (a
// read, a write) wakes up with end of file or EPIPE, and the task ends the
// usual way.
class Deadline {
 public:
  Deadline(const Socket& client, std::chrono::milliseconds limit);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

 private:
  EventLoop::TimerId timer_;
};

// Reads until `received` holds a whole request header, or more than a header
// may be. Returns false when the client left first. --trace and --timeline
// tell the request line, or that the client hung up.
Task<bool> receive_header(const Socket& client, std::string& received);

// Writes the whole answer within write_time_limit; --trace and --timeline
// tell its status line.
Task<void> send_response(const Socket& client, std::string response);

// The same for a picture, made as it is sent: a few rows, then a few more
// once the socket has taken them. A client that reads slowly, or never,
// keeps one piece in memory (12 KiB at most), never the whole picture; and
// the task lets the others run between pieces, so a thousand pictures at
// once hold up nobody.
Task<void> send_picture(const Socket& client, Bitmap picture, bool keep_alive);

// Closing a socket with unread input resets the connection, and the reset can
// destroy our last answer before the client reads it. So: say we are done
// (FIN), then read and drop whatever the client still sends until it closes
// too, or for header_time_limit at most.
Task<void> hang_up(const Socket& client);

}  // namespace lesson6
