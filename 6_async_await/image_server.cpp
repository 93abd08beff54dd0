// Lesson 6: a local image site on our own runtime, so that the downloader
// needs no internet. Run it: scripts/run.sh image_server; then
//   curl -o one.bmp http://127.0.0.1:5000/320/240     (a new picture each time)
//   curl http://127.0.0.1:5000/stats                  (images served, in flight)
// Watch: every picture comes after --latency-ms (200 by default), and ten
// clients at once all have theirs after one latency, not ten. DOWNLOADER.md
// walks through it.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "6_async_await/runtime/runtime.hpp"
#include "6_async_await/support/bitmap.hpp"
#include "6_async_await/support/http.hpp"
#include "6_async_await/support/wait_for.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

using lesson6::Bitmap;
using lesson6::Deadline;
using lesson6::end_of_header;
using lesson6::hang_up;
using lesson6::header_time_limit;
using lesson6::make_response;
using lesson6::max_header_size;
using lesson6::max_picture_side;
using lesson6::parse_request;
using lesson6::receive_header;
using lesson6::Request;
using lesson6::send_picture;
using lesson6::send_response;

struct PictureSize {
  std::uint32_t width;
  std::uint32_t height;
};

// "320" gives 320; a number too large for 32 bits gives 0, which no picture
// has. nullopt when it is not all digits.
std::optional<std::uint32_t> side_of(std::string_view digits) {
  std::uint32_t side = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), side);
  if (digits.empty() || end != digits.data() + digits.size()) return std::nullopt;
  return error == std::errc() ? side : 0;
}

// The picture a path asks for: "/320/240" (what loremflickr.com serves), or
// "/image" (and "/image/...") for 320 x 240. nullopt when it asks for no
// picture at all.
std::optional<PictureSize> picture_size(std::string_view path) {
  if (path == "/image" || path.starts_with("/image/")) return PictureSize{320, 240};
  const std::size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos) return std::nullopt;
  const std::optional<std::uint32_t> width = side_of(path.substr(1, slash - 1));
  const std::optional<std::uint32_t> height = side_of(path.substr(slash + 1));
  if (!width || !height) return std::nullopt;
  return PictureSize{*width, *height};
}

bool is_drawable(PictureSize size) {
  return size.width >= 1 && size.width <= max_picture_side && size.height >= 1 &&
         size.height <= max_picture_side;
}

// ---- The server ----

struct Server {
  std::chrono::milliseconds latency;
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

// While a picture waits: reads on, so that it ends as soon as the client
// hangs up. What comes meanwhile is the next request, kept in `received`;
// with it (or a header's worth) in hand, it reads no further and waits for
// wait_for() to end it. A client that only shut its sending side (nc -N) has
// hung up too: its FIN is the same as a closing client's, and only a write
// would tell them apart.
lesson6::Task<void> until_hang_up(const lesson6::Socket& client, std::string& received) {
  const bool complete = co_await receive_header(client, received);
  if (!complete) co_return;
  co_await std::suspend_always();  // Python: await asyncio.Future(), which nobody completes
}

enum class Next { request, hang_up, nothing };  // what the connection does after an answer

// Reads one request and answers it.
lesson6::Task<Next> answer_request(const lesson6::Socket& client, std::string& received,
                                   Server& server) {
  bool complete = false;
  {
    const Deadline deadline(client, header_time_limit);
    complete = co_await receive_header(client, received);
  }
  if (!complete) co_return Next::nothing;  // the client left, or was too slow
  const std::size_t header_size = received.find(end_of_header);
  if (header_size == std::string::npos || header_size > max_header_size) {
    co_await send_response(client, make_response("431 Request Header Fields Too Large",
                                                 "text/plain", "header too large\n", false));
    co_return Next::hang_up;
  }
  const std::optional<Request> request = parse_request({received.data(), header_size});
  received.erase(0, header_size + end_of_header.size());
  if (!request) {
    co_await send_response(
        client, make_response("400 Bad Request", "text/plain", "malformed request\n", false));
    co_return Next::hang_up;
  }
  const Next next = request->keep_alive ? Next::request : Next::hang_up;

  if (request->method != "GET") {
    co_await send_response(client, make_response("405 Method Not Allowed", "text/plain",
                                                 "only GET is served here\n", false));
    co_return Next::hang_up;
  }
  // A "?query" changes nothing here (loremflickr.com's "?lock=7" picks a photo).
  const std::string_view path =
      std::string_view(request->target).substr(0, request->target.find('?'));
  const std::optional<PictureSize> size = picture_size(path);
  if (size && !is_drawable(*size)) {
    const std::string limit = std::to_string(max_picture_side);
    co_await send_response(client, make_response("400 Bad Request", "text/plain",
                                                 "a picture is 1 to " + limit +
                                                     " pixels wide and 1 to " + limit + " high\n",
                                                 request->keep_alive));
  } else if (size) {
    const InFlight counted(server);
    const std::uint32_t number = ++server.images_started;
    // An awaited timer: other clients are served meanwhile. Reading
    // meanwhile is how we notice a client that leaves before its picture.
    if (co_await lesson6::wait_for(until_hang_up(client, received), server.latency)) {
      co_return Next::nothing;  // hung up before its picture
    }
    co_await send_picture(client, Bitmap(number, size->width, size->height), request->keep_alive);
    ++server.images_served;
  } else if (path == "/stats") {
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
  std::string received;  // bytes read and not answered yet: at most a header and a bit
  try {
    Next next = Next::request;
    while (next == Next::request) {
      next = co_await answer_request(client, received, server);
    }
    if (next == Next::hang_up) co_await hang_up(client);
  } catch (const std::system_error&) {
    // A reset or a broken pipe: this client is gone, the others carry on.
  }
}

// async_echo_server's accept loop: one task per client.
lesson6::Task<void> run_server(lesson6::Socket listener, Server& server) {
  while (true) {
    lesson6::Socket client = co_await lesson6::accept(listener);
    lesson6::spawn(serve_client(std::move(client), server));
  }
}

}  // namespace

int main(int argc, char** argv) {
  common::ServerOptions options;
  long latency_ms = 200;
  common::CommandLine command_line(
      "image_server",
      "Lesson 6: serves a new BMP picture on every GET /W/H (W x H pixels, as\n"
      "loremflickr.com does) or /image (320 x 240) after a delay, and counters\n"
      "on GET /stats, so the image downloader needs no internet.");
  common::add_server_options(command_line, options);
  command_line.option("--latency-ms", "how long each picture takes to arrive", latency_ms, 0,
                      60'000);
  command_line.parse(argc, argv);
  try {
    Server server{std::chrono::milliseconds(latency_ms)};
    // Before "listening on": a SIGTERM from then on must find the handlers.
    common::install_stop_handlers();
    lesson6::Socket listener(common::listen_tcp(options.host, options.port));
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    lesson6::run(run_server(std::move(listener), server));
  } catch (const lesson6::Stopped&) {
    return 0;  // a stop signal: every connection's task has been ended
  } catch (const std::exception& error) {
    std::cerr << "image_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
