// image_server, the local stand-in for an image site: a different valid
// picture on every GET /image and /W/H (the size asked for, within bounds),
// counters on /stats, clear refusals of what is not a request it serves, and
// no client that can crash it, hold it up or make it hold much memory.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "tests/image_checks.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using image_checks::bitmap_size;
using image_checks::BitmapSize;
using image_checks::http_get;
using image_checks::is_valid_bitmap;
using image_checks::stat;
using image_checks::stat_once_it_is;
using test_support::connect_to;
using test_support::receive_exactly;
using test_support::send_all;
using testing::HasSubstr;
using testing::Not;
using testing::StartsWith;

constexpr std::size_t until_closed = std::numeric_limits<std::size_t>::max();

struct Response {
  std::string status_line;
  std::string headers;  // each one followed by "\r\n"
  std::string body;
};

// Cuts a stream of answers into responses, each body as long as its
// Content-Length says.
std::vector<Response> split_responses(std::string_view stream) {
  std::vector<Response> responses;
  while (!stream.empty()) {
    const std::size_t status_end = stream.find("\r\n");
    const std::size_t header_end = stream.find("\r\n\r\n");
    if (status_end == std::string_view::npos || header_end == std::string_view::npos) break;
    Response response{std::string(stream.substr(0, status_end)),
                      std::string(stream.substr(status_end + 2, header_end - status_end)), ""};
    const std::size_t length_at = response.headers.find("Content-Length: ");
    if (length_at == std::string::npos) break;
    const std::size_t length = std::stoul(response.headers.substr(length_at + 16));
    response.body = std::string(stream.substr(header_end + 4, length));
    stream.remove_prefix(std::min(stream.size(), header_end + 4 + length));
    responses.push_back(std::move(response));
  }
  return responses;
}

Response get(std::uint16_t port, std::string_view target) {
  const std::vector<Response> responses = split_responses(http_get(port, target));
  if (responses.size() != 1) return {};
  return responses.front();
}

// Closing with SO_LINGER at zero sends a reset instead of a polite FIN: the
// client vanishes, and the server's next send fails.
void reset(common::FileDescriptor& connection) {
  const linger abort_at_once{1, 0};
  setsockopt(connection.get(), SOL_SOCKET, SO_LINGER, &abort_at_once, sizeof abort_at_once);
  connection.reset();
}

TEST(ImageServerTest, ServesADifferentValidBitmapOnEveryImageRequest) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  // Two requests in one go on one connection: the first keeps it open, the
  // second asks the server to close it after answering.
  const common::FileDescriptor connection = connect_to(server.port());
  send_all(connection.get(),
           "GET /image HTTP/1.1\r\nHost: test\r\n\r\n"
           "GET /image/320/240?lock=1 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  const std::vector<Response> responses =
      split_responses(receive_exactly(connection.get(), until_closed));

  ASSERT_EQ(responses.size(), 2u);
  for (const Response& response : responses) {
    EXPECT_EQ(response.status_line, "HTTP/1.1 200 OK");
    EXPECT_THAT(response.headers, HasSubstr("Content-Type: image/bmp\r\n"));
    EXPECT_TRUE(is_valid_bitmap(response.body));
  }
  EXPECT_NE(responses[0].body, responses[1].body);
  EXPECT_THAT(responses[0].headers, Not(HasSubstr("Connection: close")));
  EXPECT_THAT(responses[1].headers, HasSubstr("Connection: close\r\n"));
}

TEST(ImageServerTest, ServesTheCoursesWidthByHeightShapeAtTheSizeAskedFor) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const std::vector<std::pair<std::string, BitmapSize>> asked_for = {
      {"/320/240", {320, 240}}, {"/320/240?lock=7", {320, 240}}, {"/16/9", {16, 9}},
      {"/1/1", {1, 1}},         {"/1024/1024", {1024, 1024}},    {"/image", {320, 240}}};
  std::set<std::string> different;
  for (const auto& [target, size] : asked_for) {
    const Response response = get(server.port(), target);
    EXPECT_EQ(response.status_line, "HTTP/1.1 200 OK") << target;
    EXPECT_THAT(response.headers, HasSubstr("Content-Type: image/bmp\r\n")) << target;
    ASSERT_TRUE(is_valid_bitmap(response.body)) << target;
    EXPECT_EQ(bitmap_size(response.body), size) << target;
    different.insert(response.body);
  }
  EXPECT_EQ(different.size(), asked_for.size());  // every picture unlike every other
  EXPECT_EQ(stat(server.port(), "images_served"), 6);
}

TEST(ImageServerTest, RefusesSillySizesWith400AndKeepsServing) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  for (const std::string_view target :
       {"/0/240", "/320/0", "/1025/240", "/320/1025", "/320/99999999999999999999"}) {
    EXPECT_EQ(get(server.port(), target).status_line, "HTTP/1.1 400 Bad Request") << target;
  }
  EXPECT_EQ(stat(server.port(), "images_served"), 0);
  EXPECT_TRUE(is_valid_bitmap(get(server.port(), "/320/240").body));
}

TEST(ImageServerTest, CountsImagesServedAndTheMostRequestsInFlightAtOnce) {
  test_support::Server server("image_server", {"--latency-ms", "300"});
  // Three clients ask together; each answer takes 300 ms, so the server holds
  // all three requests at once.
  std::vector<common::FileDescriptor> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(connect_to(server.port()));
    send_all(clients.back().get(), "GET /image HTTP/1.1\r\nConnection: close\r\n\r\n");
  }
  for (const common::FileDescriptor& client : clients) {
    const std::vector<Response> responses =
        split_responses(receive_exactly(client.get(), until_closed));
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_TRUE(is_valid_bitmap(responses[0].body));
  }

  const Response stats = get(server.port(), "/stats");
  EXPECT_EQ(stats.status_line, "HTTP/1.1 200 OK");
  EXPECT_THAT(stats.headers, HasSubstr("Content-Type: application/json\r\n"));
  EXPECT_EQ(stat(server.port(), "images_served"), 3);
  EXPECT_EQ(stat(server.port(), "in_flight"), 0);
  EXPECT_EQ(stat(server.port(), "max_in_flight"), 3);
}

TEST(ImageServerTest, IgnoresAQueryOnEveryTarget) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  EXPECT_EQ(bitmap_size(get(server.port(), "/image?x").body), (BitmapSize{320, 240}));
  EXPECT_EQ(bitmap_size(get(server.port(), "/16/9?lock=7&x").body), (BitmapSize{16, 9}));
  const Response stats = get(server.port(), "/stats?x");
  EXPECT_EQ(stats.status_line, "HTTP/1.1 200 OK");
  EXPECT_THAT(stats.body, HasSubstr("\"images_served\": 2"));
  EXPECT_EQ(get(server.port(), "/nothing?x").status_line, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(get(server.port(), "/?stats").status_line, "HTTP/1.1 404 Not Found");
}

TEST(ImageServerTest, AnswersOtherPathsWith404) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  EXPECT_EQ(get(server.port(), "/").status_line, "HTTP/1.1 404 Not Found");
  for (const std::string_view target :
       {"/images", "/320", "/320/", "/320/abc", "/320/240/7", "/-1/240", "/+1/240", "//240"}) {
    EXPECT_EQ(get(server.port(), target).status_line, "HTTP/1.1 404 Not Found") << target;
  }
  EXPECT_EQ(stat(server.port(), "images_served"), 0);
}

TEST(ImageServerTest, AnswersOtherMethodsWith405) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const common::FileDescriptor connection = connect_to(server.port());
  send_all(connection.get(), "POST /image HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_THAT(receive_exactly(connection.get(), until_closed),
              StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
}

TEST(ImageServerTest, AnswersGarbageWith400ClosesAndKeepsServingOthers) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  for (const std::string_view garbage :
       {std::string_view("\x01\x02\x03 hello\r\n\r\n"), std::string_view("GET\r\n\r\n"),
        std::string_view("GET /image SPDY/9\r\n\r\n"),
        std::string_view("GET image HTTP/1.1\r\n\r\n"),
        std::string_view("GET /image HTTP/1.1\r\nno colon here\r\n\r\n")}) {
    const common::FileDescriptor connection = connect_to(server.port());
    send_all(connection.get(), garbage);
    const std::string answer = receive_exactly(connection.get(), until_closed);
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 Bad Request\r\n")) << garbage;
    EXPECT_THAT(answer, HasSubstr("Connection: close\r\n"));
  }
  EXPECT_TRUE(is_valid_bitmap(get(server.port(), "/image").body));
}

TEST(ImageServerTest, AnswersAHeaderOver8KiBWith431AndCloses) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const common::FileDescriptor connection = connect_to(server.port());
  // More than the limit, and never the blank line that would end it.
  send_all(connection.get(),
           "GET /image HTTP/1.1\r\nX-Padding: " + std::string(64 * 1024, 'a') + "\r\n");
  EXPECT_THAT(receive_exactly(connection.get(), until_closed),
              StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  EXPECT_TRUE(is_valid_bitmap(get(server.port(), "/image").body));
}

TEST(ImageServerTest, HangsUpOnAClientThatNeverFinishesItsHeader) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const common::FileDescriptor slow = connect_to(server.port());
  send_all(slow.get(), "GET /image HTTP/1.1\r\nHost: te");
  // The server gives a header a few seconds; meanwhile it serves others.
  EXPECT_TRUE(is_valid_bitmap(get(server.port(), "/image").body));
  ASSERT_TRUE(test_support::wait_readable(slow.get(), 20s));
  EXPECT_EQ(receive_exactly(slow.get(), until_closed), "");  // closed, with no answer
}

TEST(ImageServerTest, KeepsServingOthersWhenClientsVanish) {
  test_support::Server server("image_server", {"--latency-ms", "100"});
  // One client vanishes while its picture is on the way, one before it
  // starts, one while the server waits to answer it.
  common::FileDescriptor mid_response = connect_to(server.port());
  send_all(mid_response.get(), "GET /image HTTP/1.1\r\n\r\n");
  ASSERT_EQ(receive_exactly(mid_response.get(), 100).size(), 100u);
  reset(mid_response);

  common::FileDescriptor before_answer = connect_to(server.port());
  send_all(before_answer.get(), "GET /image HTTP/1.1\r\n\r\n");
  reset(before_answer);

  common::FileDescriptor mid_request = connect_to(server.port());
  send_all(mid_request.get(), "GET /ima");
  reset(mid_request);

  EXPECT_TRUE(is_valid_bitmap(get(server.port(), "/image").body));
  EXPECT_EQ(server.stop(), 0) << server.program().error_output();
}

TEST(ImageServerTest, AClientThatLeavesWhileItsPictureWaitsIsNoLongerInFlight) {
  test_support::Server server("image_server", {"--latency-ms", "60000"});
  for (const bool with_a_reset : {false, true}) {
    common::FileDescriptor leaving = connect_to(server.port());
    send_all(leaving.get(), "GET /image HTTP/1.1\r\n\r\n");
    ASSERT_EQ(stat_once_it_is(server.port(), "in_flight", 1), 1);
    if (with_a_reset) {
      reset(leaving);
    } else {
      leaving.reset();  // a plain close(): the server sees the end of the stream
    }
    EXPECT_EQ(stat_once_it_is(server.port(), "in_flight", 0), 0) << "reset: " << with_a_reset;
  }
  EXPECT_EQ(stat(server.port(), "images_served"), 0);
  EXPECT_EQ(server.stop(), 0) << server.program().error_output();
}

// TCP tells the server of a half-close (nc -N) and of a close alike, with the
// end of the stream; only a write would tell them apart. Either has left.
TEST(ImageServerTest, AClientThatShutsItsSendingSideBeforeItsPictureHasLeftAndGetsNone) {
  test_support::Server server("image_server", {"--latency-ms", "60000"});
  const common::FileDescriptor half_closed = connect_to(server.port());
  send_all(half_closed.get(), "GET /image HTTP/1.1\r\n\r\n");
  ASSERT_EQ(stat_once_it_is(server.port(), "in_flight", 1), 1);
  ASSERT_EQ(shutdown(half_closed.get(), SHUT_WR), 0);

  ASSERT_TRUE(test_support::wait_readable(half_closed.get(), 10s));
  EXPECT_EQ(receive_exactly(half_closed.get(), until_closed), "");  // closed, with no answer
  EXPECT_EQ(stat(server.port(), "in_flight"), 0);
}

// While a picture waits, the server reads what the client sends: a next
// request is kept and answered in turn...
TEST(ImageServerTest, AnswersARequestSentWhileThePreviousPictureWaits) {
  test_support::Server server("image_server", {"--latency-ms", "300"});
  const common::FileDescriptor connection = connect_to(server.port());
  send_all(connection.get(), "GET /image HTTP/1.1\r\n\r\n");
  ASSERT_EQ(stat_once_it_is(server.port(), "in_flight", 1), 1);
  send_all(connection.get(), "GET /16/9 HTTP/1.1\r\nConnection: close\r\n\r\n");

  const std::vector<Response> responses =
      split_responses(receive_exactly(connection.get(), until_closed));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(bitmap_size(responses[0].body), (BitmapSize{320, 240}));
  EXPECT_EQ(bitmap_size(responses[1].body), (BitmapSize{16, 9}));
  EXPECT_TRUE(is_valid_bitmap(responses[1].body));
}

// ...but no more than a header's worth of it, which the next request turns
// down once the picture has gone.
TEST(ImageServerTest, AFloodSentWhileAPictureWaitsGetsThePictureThen431) {
  test_support::Server server("image_server", {"--latency-ms", "300"});
  const common::FileDescriptor connection = connect_to(server.port());
  send_all(connection.get(), "GET /image HTTP/1.1\r\n\r\n");
  ASSERT_EQ(stat_once_it_is(server.port(), "in_flight", 1), 1);
  // Twice a header's worth, and no blank line: small enough for the
  // kernel's buffers, so that sending it never waits for the server.
  send_all(connection.get(), std::string(16 * 1024, 'a'));

  const std::vector<Response> responses =
      split_responses(receive_exactly(connection.get(), until_closed));
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_TRUE(is_valid_bitmap(responses[0].body));
  EXPECT_EQ(responses[1].status_line, "HTTP/1.1 431 Request Header Fields Too Large");
}

// The next answer on a connection that stays open: its head, then as many
// bytes as its Content-Length says.
std::string receive_answer(int fd) {
  std::string head;
  while (!head.ends_with("\r\n\r\n")) {
    const std::string byte = receive_exactly(fd, 1);
    if (byte.empty()) return head;
    head += byte;
  }
  const std::size_t length_at = head.find("Content-Length: ");
  if (length_at == std::string::npos) return head;
  return head + receive_exactly(fd, std::stoul(head.substr(length_at + 16)));
}

// A picture goes out in pieces. Nagle's algorithm would hold a small last
// piece until the client acknowledged the one before, and a client that only
// waits acknowledges late (40 ms on Linux): on a connection kept open, every
// picture after the first would come that late. The quickest of five shows
// whether they all did; it is no measure of speed.
TEST(ImageServerTest, APictureOnAConnectionKeptOpenComesWithoutWaitingForAnAcknowledgement) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const common::FileDescriptor connection = connect_to(server.port());
  send_all(connection.get(), "GET /1/1 HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(is_valid_bitmap(split_responses(receive_answer(connection.get())).at(0).body));
  auto quickest = std::chrono::steady_clock::duration::max();
  for (int picture = 0; picture < 5; ++picture) {
    const auto asked_at = std::chrono::steady_clock::now();
    send_all(connection.get(), "GET /1/1 HTTP/1.1\r\n\r\n");
    const std::vector<Response> answer = split_responses(receive_answer(connection.get()));
    quickest = std::min(quickest, std::chrono::steady_clock::now() - asked_at);
    ASSERT_EQ(answer.size(), 1u);
    ASSERT_TRUE(is_valid_bitmap(answer[0].body));
  }
  EXPECT_LT(quickest, 30ms);
}

TEST(ImageServerTest, StopsWithExitCode0OnSigtermWhileRequestsWait) {
  test_support::Server server("image_server", {"--latency-ms", "60000"});
  const common::FileDescriptor waiting = connect_to(server.port());
  send_all(waiting.get(), "GET /image HTTP/1.1\r\n\r\n");
  // /stats answers at once, and shows the first request waiting.
  ASSERT_EQ(stat(server.port(), "in_flight"), 1);

  EXPECT_EQ(server.stop(), 0) << server.program().error_output();
  EXPECT_EQ(receive_exactly(waiting.get(), until_closed), "");  // closed, with no answer
}

// The most of its memory the server has held at once, in MiB: VmHWM, its
// peak resident set, as /proc/PID/status says.
long peak_memory_mib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6)) / 1024;
  }
  throw std::runtime_error("no VmHWM for process " + std::to_string(pid));
}

// A thousand clients (as many as our descriptors allow) each ask for the
// largest picture and never read a byte of it: the server must not hold
// their pictures, nor build them all while everybody else waits.
TEST(ImageServerTest, ClientsThatNeverReadTheirBigPicturesCostLittleMemoryAndHoldUpNobody) {
  const long clients = std::min(1000L, common::raise_descriptor_limit() - 100);  // inherited
  // Under AddressSanitizer, freed memory waits in a quarantine (256 MiB by
  // default) to catch a use after free: the sanitizer's memory, not the
  // server's. A small one keeps the count fair; other builds ignore it.
  const char* const sanitizer_options = std::getenv("ASAN_OPTIONS");
  const std::string options = sanitizer_options == nullptr ? "" : sanitizer_options;
  ASSERT_EQ(setenv("ASAN_OPTIONS", (options + ":quarantine_size_mb=8").c_str(), 1), 0);
  test_support::Server server("image_server");  // the default latency, 200 ms
  std::vector<common::FileDescriptor> never_reading;
  for (long i = 0; i < clients; ++i) {
    never_reading.push_back(connect_to(server.port()));
    send_all(never_reading.back().get(), "GET /1024/1024 HTTP/1.1\r\nHost: test\r\n\r\n");
  }
  ASSERT_EQ(stat_once_it_is(server.port(), "in_flight", clients), clients);

  // Two seconds, ten latencies: every picture has been started and has gone
  // as far as its client lets it. /stats answers all along, within a second.
  const auto watched_until = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < watched_until) {
    const auto asked_at = std::chrono::steady_clock::now();
    const common::FileDescriptor connection = connect_to(server.port());
    send_all(connection.get(), "GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n");
    const std::string answer = receive_exactly(connection.get(), until_closed, 1s);
    const auto waited = std::chrono::steady_clock::now() - asked_at;
    ASSERT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n")) << "no answer within a second";
    ASSERT_LT(waited, 1s);
  }
  // A client that reads gets its picture meanwhile.
  EXPECT_TRUE(is_valid_bitmap(get(server.port(), "/320/240").body));
  // A 1024 x 1024 picture is 3 MiB: all of them at once would be 3,000 MiB.
  EXPECT_LT(peak_memory_mib(server.program().pid()), 200);
  EXPECT_EQ(server.stop(), 0) << server.program().error_output();
}

}  // namespace
