// Lesson 6: an image server on our own runtime, so that the downloader can be
// tried with no internet.
//
// Run it:      scripts/run.sh image_server
// Try it:      curl -o one.bmp http://127.0.0.1:5000/image    (open one.bmp)
//              curl http://127.0.0.1:5000/stats
// Observe:     every request for an image is answered after --latency-ms
//              (200 by default) with a picture no earlier request got. Ten
//              clients at once all have theirs after about one latency, not
//              ten: the delay is an awaited sleep, so the loop serves the
//              others meanwhile. /stats counts the images served and the most
//              requests that were ever in flight at once.
// Why:         next to async_echo_server.cpp, the same accept loop and one
//              task per connection; answer_request() reads a request, sleeps,
//              writes the answer, and serve_client() asks for another.
// Shortcuts:   just enough HTTP/1.1 for curl and a browser: GET only, no
//              request bodies, every picture the same size. A client gets a
//              few seconds to send its request and to take our answer; then
//              we hang up, so nobody can hold a connection forever.

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "6_async_await/runtime.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

using namespace std::chrono_literals;

// ---- The pictures: 24-bit BMP, the simplest format every viewer opens ----

constexpr std::uint32_t image_width = 320;
constexpr std::uint32_t image_height = 240;

// Every number in a BMP header is little-endian.
void append_number(std::string& out, std::uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out += static_cast<char>((value >> (8 * i)) & 0xFF);
  }
}

// Multiplying by an odd number is one-to-one on 24 bits, so the first 16
// million pictures all start with a different colour: no two are alike.
std::uint32_t colour_of(std::uint32_t number, std::uint32_t odd_multiplier) {
  return (number * odd_multiplier) & 0xFFFFFF;
}

// A diagonal blend between two colours chosen by the picture's number.
std::string make_bitmap(std::uint32_t number) {
  const std::uint32_t row_size = (image_width * 3 + 3) / 4 * 4;  // rows are padded to 4 bytes
  const std::uint32_t pixels_size = row_size * image_height;
  const std::uint32_t headers_size = 14 + 40;
  std::string bitmap;
  bitmap.reserve(headers_size + pixels_size);

  bitmap += "BM";  // the file header
  append_number(bitmap, headers_size + pixels_size, 4);
  append_number(bitmap, 0, 4);             // reserved
  append_number(bitmap, headers_size, 4);  // where the pixels start
  append_number(bitmap, 40, 4);            // the info header: its own size, then
  append_number(bitmap, image_width, 4);   // the width,
  append_number(bitmap, image_height, 4);  // the height (positive: bottom row first),
  append_number(bitmap, 1, 2);             // one plane,
  append_number(bitmap, 24, 2);            // 24 bits per pixel (blue, green, red),
  append_number(bitmap, 0, 4);             // no compression,
  append_number(bitmap, pixels_size, 4);
  append_number(bitmap, 2835, 4);  // 72 dots per inch, across
  append_number(bitmap, 2835, 4);  // and down;
  append_number(bitmap, 0, 4);     // no palette.
  append_number(bitmap, 0, 4);

  const std::uint32_t from = colour_of(number, 0x9E3779B1);
  const std::uint32_t to = colour_of(number, 0x85EBCA6B);
  // Pixel (x, y) gets step x + y of the blend, so every row is a slice of one
  // strip of steps, starting one pixel further along than the row below.
  const std::uint32_t last_step = image_width + image_height - 2;
  std::string strip;
  for (std::uint32_t step = 0; step <= last_step; ++step) {
    for (const int shift : {0, 8, 16}) {  // blue, green, red
      const std::uint32_t a = (from >> shift) & 0xFF;
      const std::uint32_t b = (to >> shift) & 0xFF;
      strip += static_cast<char>((a * (last_step - step) + b * step) / last_step);
    }
  }
  for (std::uint32_t y = 0; y < image_height; ++y) {
    bitmap.append(strip, y * 3, image_width * 3);
    bitmap.append(row_size - image_width * 3, '\0');
  }
  return bitmap;
}

// ---- Just enough HTTP/1.1 ----

constexpr std::size_t max_header_size = 8 * 1024;
constexpr std::string_view end_of_header = "\r\n\r\n";

struct Request {
  std::string method;
  std::string target;
  bool keep_alive = false;  // whether another request may follow on this connection
};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// "GET /image HTTP/1.1", then one "Name: value" line per header (the header
// comes without its blank last line). nullopt when it is not that shape.
std::optional<Request> parse_request(std::string_view header) {
  const std::size_t line_end = header.find("\r\n");
  const std::string_view request_line = header.substr(0, line_end);
  const std::size_t first_space = request_line.find(' ');
  const std::size_t last_space = request_line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) return std::nullopt;
  const std::string_view method = request_line.substr(0, first_space);
  const std::string_view target =
      request_line.substr(first_space + 1, last_space - first_space - 1);
  const std::string_view version = request_line.substr(last_space + 1);
  if (method.empty() || !target.starts_with('/') || target.find(' ') != std::string_view::npos) {
    return std::nullopt;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return std::nullopt;

  // HTTP/1.1 keeps the connection open unless told otherwise; for 1.0 we
  // simply close it, which every 1.0 client understands.
  Request request{std::string(method), std::string(target), version == "HTTP/1.1"};
  std::string_view rest = line_end == std::string_view::npos ? "" : header.substr(line_end + 2);
  while (!rest.empty()) {
    const std::size_t next = rest.find("\r\n");
    const std::string_view line = rest.substr(0, next);
    rest = next == std::string_view::npos ? "" : rest.substr(next + 2);
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return std::nullopt;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (name.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
    if (equals_ignoring_case(name, "Connection") && equals_ignoring_case(value, "close")) {
      request.keep_alive = false;
    }
    // We never read a body, so after one we could not tell where the next
    // request starts: answer this one, then close.
    if ((equals_ignoring_case(name, "Content-Length") && value != "0") ||
        equals_ignoring_case(name, "Transfer-Encoding")) {
      request.keep_alive = false;
    }
  }
  return request;
}

std::string make_response(std::string_view status, std::string_view content_type,
                          std::string_view body, bool keep_alive) {
  std::string response = "HTTP/1.1 ";
  response += status;
  response += "\r\nContent-Type: ";
  response += content_type;
  response += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (!keep_alive) response += "Connection: close\r\n";
  response += "\r\n";
  response += body;
  return response;
}

bool is_image_target(std::string_view target) {
  return target == "/image" || target.starts_with("/image/") || target.starts_with("/image?");
}

// ---- The server ----

constexpr auto header_time_limit = 5s;  // to send a whole request header
constexpr auto write_time_limit = 10s;  // to take a whole answer

struct Server {
  std::chrono::milliseconds latency;
  common::Tracer trace;
  std::uint32_t images_started = 0;  // numbers the pictures
  std::uint64_t images_served = 0;
  unsigned in_flight = 0;  // image requests between arrival and the last byte of their answer
  unsigned max_in_flight = 0;
};

// Counts one image request in flight for as long as it lives.
class InFlight {
 public:
  explicit InFlight(Server& server) : server_(server) {
    server_.max_in_flight = std::max(server_.max_in_flight, ++server_.in_flight);
  }
  ~InFlight() { --server_.in_flight; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  Server& server_;
};

// Hangs up on a client that takes too long. When the time is up, shutdown()
// ends the connection, so whatever its task waits for (a read, a write)
// wakes up with end of file or EPIPE, and the task ends the usual way.
class Deadline {
 public:
  Deadline(const lesson6::Socket& client, std::chrono::milliseconds limit)
      : timer_(lesson6::EventLoop::current().call_later(
            limit, [fd = client.get()] { ::shutdown(fd, SHUT_RDWR); })) {}
  ~Deadline() { lesson6::EventLoop::current().cancel(timer_); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

 private:
  lesson6::EventLoop::TimerId timer_;
};

// Reads until `received` holds a whole request header, or more than a header
// may be. Returns false when the client left first.
lesson6::Task<bool> receive_header(const lesson6::Socket& client, std::string& received) {
  std::array<char, 4096> chunk;
  while (received.find(end_of_header) == std::string::npos && received.size() <= max_header_size) {
    const std::size_t count = co_await lesson6::read_some(client, chunk);
    if (count == 0) co_return false;
    received.append(chunk.data(), count);
  }
  co_return true;
}

lesson6::Task<void> send_response(const lesson6::Socket& client, std::string response) {
  const Deadline deadline(client, write_time_limit);
  co_await lesson6::write_all(client, response);
}

// Closing a socket with unread input resets the connection, and the reset can
// destroy our last answer before the client reads it. So: say we are done
// (FIN), then read and drop whatever the client still sends until it closes
// too, or for a few seconds at most.
lesson6::Task<void> hang_up(const lesson6::Socket& client) {
  ::shutdown(client.get(), SHUT_WR);
  const Deadline deadline(client, header_time_limit);
  std::array<char, 4096> ignored;
  while (co_await lesson6::read_some(client, ignored) > 0) {
  }
}

enum class Next { request, hang_up, nothing };  // what the connection does after an answer

// Reads one request and answers it.
lesson6::Task<Next> answer_request(const lesson6::Socket& client, std::string& received,
                                   Server& server) {
  const int fd = client.get();
  bool complete = false;
  {
    const Deadline deadline(client, header_time_limit);
    complete = co_await receive_header(client, received);
  }
  if (!complete) co_return Next::nothing;  // the client left, or was too slow
  const std::size_t header_size = received.find(end_of_header);
  if (header_size == std::string::npos || header_size > max_header_size) {
    server.trace("fd ", fd, ": header over ", max_header_size, " bytes, answering 431");
    co_await send_response(client, make_response("431 Request Header Fields Too Large",
                                                 "text/plain", "header too large\n", false));
    co_return Next::hang_up;
  }
  const std::optional<Request> request = parse_request({received.data(), header_size});
  received.erase(0, header_size + end_of_header.size());
  if (!request) {
    server.trace("fd ", fd, ": not an HTTP request, answering 400");
    co_await send_response(
        client, make_response("400 Bad Request", "text/plain", "malformed request\n", false));
    co_return Next::hang_up;
  }
  server.trace("fd ", fd, ": ", request->method, ' ', request->target);
  const Next next = request->keep_alive ? Next::request : Next::hang_up;

  if (request->method != "GET") {
    co_await send_response(client, make_response("405 Method Not Allowed", "text/plain",
                                                 "only GET is served here\n", false));
    co_return Next::hang_up;
  }
  if (is_image_target(request->target)) {
    const InFlight counted(server);
    const std::uint32_t number = ++server.images_started;
    server.trace("fd ", fd, ": picture ", number, " in ", server.latency.count(), " ms; ",
                 server.in_flight, " in flight");
    co_await lesson6::sleep(server.latency);  // other clients are served meanwhile
    co_await send_response(
        client, make_response("200 OK", "image/bmp", make_bitmap(number), request->keep_alive));
    ++server.images_served;
  } else if (request->target == "/stats") {
    const std::string stats = "{\"images_served\": " + std::to_string(server.images_served) +
                              ", \"in_flight\": " + std::to_string(server.in_flight) +
                              ", \"max_in_flight\": " + std::to_string(server.max_in_flight) +
                              "}\n";
    co_await send_response(client,
                           make_response("200 OK", "application/json", stats, request->keep_alive));
  } else {
    co_await send_response(client, make_response("404 Not Found", "text/plain", "no such page\n",
                                                 request->keep_alive));
  }
  co_return next;
}

// One task per connection: answer requests while the client keeps the
// connection open. The echo server's loop, with HTTP in it.
lesson6::Task<void> serve_client(lesson6::Socket client, Server& server) {
  const int fd = client.get();
  std::string received;  // bytes read and not answered yet: at most a header and a bit
  try {
    Next next = Next::request;
    while (next == Next::request) {
      next = co_await answer_request(client, received, server);
    }
    if (next == Next::hang_up) co_await hang_up(client);
  } catch (const std::system_error& error) {
    // A reset or a broken pipe: this client is gone, the others carry on.
    server.trace("fd ", fd, ": ", error.what());
  }
  server.trace("fd ", fd, ": closed");
}

// async_echo_server's accept loop: one task per client.
lesson6::Task<void> run_server(lesson6::Socket listener, Server& server) {
  while (true) {
    lesson6::Socket client = co_await lesson6::accept(listener);
    server.trace("fd ", client.get(), ": connection from ", common::peer_name(client.get()));
    lesson6::spawn(serve_client(std::move(client), server));
  }
}

}  // namespace

int main(int argc, char** argv) {
  common::ServerOptions options;
  long latency_ms = 200;
  common::CommandLine command_line(
      "image_server",
      "Lesson 6: serves a new BMP picture on every GET /image after a delay,\n"
      "and counters on GET /stats, so the image downloader needs no internet.");
  common::add_server_options(command_line, options);
  command_line.option("--latency-ms", "how long each picture takes to arrive", latency_ms, 0,
                      60'000);
  command_line.parse(argc, argv);
  try {
    // Before "listening on": a SIGTERM from then on must find the handlers.
    common::install_stop_handlers();
    lesson6::Socket listener(common::listen_tcp(options.host, options.port));
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    Server server{std::chrono::milliseconds(latency_ms), common::Tracer(options.trace)};
    lesson6::run(run_server(std::move(listener), server), server.trace);
  } catch (const lesson6::Stopped&) {
    return 0;  // Ctrl-C or SIGTERM: every connection's task has been ended
  } catch (const std::exception& error) {
    std::cerr << "image_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
