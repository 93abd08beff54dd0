// Just enough HTTP/1.1 for image_server: read a GET request's header, write
// an answer. No request bodies, no chunked encoding.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace lesson6 {

constexpr std::size_t max_header_size = 8 * 1024;
constexpr std::string_view end_of_header = "\r\n\r\n";

struct Request {
  std::string method;
  std::string target;
  bool keep_alive = false;  // whether another request may follow on this connection
};

// "GET /image HTTP/1.1", then one "Name: value" line per header (the header
// comes without its blank last line). nullopt when it is not that shape.
std::optional<Request> parse_request(std::string_view header);

// The status line ("200 OK"), the headers, a blank line, then the body.
std::string make_response(std::string_view status, std::string_view content_type,
                          std::string_view body, bool keep_alive);

}  // namespace lesson6
