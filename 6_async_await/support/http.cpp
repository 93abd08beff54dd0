#include "6_async_await/support/http.hpp"
#include "observer/observer.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

namespace lesson6 {

namespace {

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

}  // namespace

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

std::string make_head(std::string_view status, std::string_view content_type, std::size_t body_size,
                      bool keep_alive) {
  std::string head = "HTTP/1.1 ";
  head += status;
  head += "\r\nContent-Type: ";
  head += content_type;
  head += "\r\nContent-Length: " + std::to_string(body_size) + "\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

std::string make_response(std::string_view status, std::string_view content_type,
                          std::string_view body, bool keep_alive) {
  return make_head(status, content_type, body.size(), keep_alive) += body;
}

Deadline::Deadline(const Socket& client, std::chrono::milliseconds limit)
    : timer_(EventLoop::current().call_later(limit, [fd = client.get(), limit] {
        observer::note(fd, "too slow, after ", limit.count(), " ms: shutting the connection down");
        ::shutdown(fd, SHUT_RDWR);
      })) {}

Deadline::~Deadline() {
  if (EventLoop* const loop = EventLoop::running()) loop->cancel(timer_);
}

Task<bool> receive_header(const Socket& client, std::string& received) {
  std::array<char, 4096> chunk;
  while (received.find(end_of_header) == std::string::npos && received.size() <= max_header_size) {
    const std::size_t count = co_await read_some(client, chunk);
    if (count == 0) {
      observer::note(client.get(), received.empty() ? "hung up" : "hung up in mid-request");
      co_return false;
    }
    received.append(chunk.data(), count);
  }
  // A whole header, come now or with the last request: its first line.
  if (received.find(end_of_header) <= max_header_size) {
    observer::read(client.get(), std::string_view(received).substr(0, received.find("\r\n")));
  }
  co_return true;
}

Task<void> send_response(const Socket& client, std::string response) {
  const Deadline deadline(client, write_time_limit);
  co_await write_all(client, response);
  const std::string_view status_line = std::string_view(response).substr(0, response.find('\r'));
  observer::write(client.get(), "sent ", status_line, ", ", response.size(), " bytes");
}

Task<void> send_picture(const Socket& client, Bitmap picture, bool keep_alive) {
  constexpr std::uint32_t rows_per_piece = 4;  // 12 KiB at most, at 1024 pixels wide
  // What we sent and the client has not read yet waits in the kernel, which
  // lets a socket on loopback hold 4 MiB of it: more than the picture. A
  // smaller send buffer makes a client that never reads cost the kernel
  // little, and makes write_all() wait, the backpressure we want.
  const int send_buffer = 16 * 1024;
  ::setsockopt(client.get(), SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer);
  // Nagle's algorithm would hold a small last piece until the client has
  // acknowledged the one before, which a client that only waits does late
  // (40 ms): on a connection kept open, every picture would come that late.
  const int no_delay = 1;
  ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof no_delay);
  const Deadline deadline(client, write_time_limit);
  const std::string head = make_head("200 OK", "image/bmp", picture.file_size(), keep_alive);
  co_await write_all(client, head + picture.header());
  for (std::uint32_t row = 0; row < picture.height(); row += rows_per_piece) {
    co_await sleep(std::chrono::milliseconds(0));  // Python: await asyncio.sleep(0)
    const std::string piece = picture.rows(row, rows_per_piece);
    co_await write_all(client, piece);
  }
  const std::string_view status_line = std::string_view(head).substr(0, head.find('\r'));
  observer::write(client.get(), "sent ", status_line, ", ", head.size() + picture.file_size(),
                  " bytes");
}

Task<void> hang_up(const Socket& client) {
  ::shutdown(client.get(), SHUT_WR);
  const Deadline deadline(client, header_time_limit);
  std::array<char, 4096> ignored;
  while (co_await read_some(client, ignored) > 0) {
  }
}

}  // namespace lesson6
