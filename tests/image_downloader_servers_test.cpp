// image_downloader against servers that misbehave on purpose: a redirect
// off the web (to ftp://) is never followed, and a body larger than
// --max-bytes (announced or not) stops the image at the limit. Each ends as
// one failure per image, exit code 1 and no file.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "common/net.hpp"
#include "tests/image_checks.hpp"
#include "tests/image_downloader_fixture.hpp"
#include "tests/program.hpp"

namespace {

using image_checks::http_get;
using image_downloader_fixture::ImageDownloaderTest;
using image_downloader_fixture::url_of;
using test_support::port_of;

// A one-trick HTTP server on loopback, run by a thread of the test: for each
// client (100 at most) it reads the request's header, lets `answer` write to
// the connection, and hangs up. A client gets 10 seconds for each read and
// write, so a stuck one cannot hang the test.
class TinyServer {
 public:
  explicit TinyServer(std::function<void(int)> answer)
      : listener_(common::listen_tcp("127.0.0.1", 0)),
        answer_(std::move(answer)),
        thread_([this] { serve(); }) {}
  // Shutting a listening socket down wakes the thread from accept().
  ~TinyServer() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  TinyServer(const TinyServer&) = delete;
  TinyServer& operator=(const TinyServer&) = delete;

  std::uint16_t port() const { return port_of(listener_.get()); }

 private:
  void serve() {
    for (int served = 0; served < 100; ++served) {
      const common::FileDescriptor connection(
          accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection && (errno == EINTR || errno == ECONNABORTED)) continue;
      if (!connection) return;  // shut down by the destructor
      const timeval limit{10, 0};
      setsockopt(connection.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      setsockopt(connection.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
      std::string header;
      char chunk[4096];
      while (header.find("\r\n\r\n") == std::string::npos && header.size() < 65536) {
        const ssize_t got = recv(connection.get(), chunk, sizeof chunk, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        header.append(chunk, static_cast<std::size_t>(got));
      }
      try {
        answer_(connection.get());
      } catch (const std::system_error&) {
        // The client hung up on us: that is what some tests want.
      }
    }
  }

  common::FileDescriptor listener_;
  std::function<void(int)> answer_;
  std::thread thread_;
};

// Every connection waiting on a listener that nobody accepts from: the
// kernel completes a TCP handshake on its own, so an attempt shows up here.
int connections_waiting(int listener) {
  common::set_nonblocking(listener);
  int count = 0;
  while (count < 100) {
    const common::FileDescriptor connection(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!connection) break;
    ++count;
  }
  return count;
}

TEST_F(ImageDownloaderTest, ARedirectToFtpIsNeverFollowed) {
  // An FTP "server" that only listens: libcurl following the redirect would
  // connect to it (and then wait for a greeting that never comes).
  const common::FileDescriptor ftp = common::listen_tcp("127.0.0.1", 0);
  const std::string secret =
      "ftp://127.0.0.1:" + std::to_string(port_of(ftp.get())) + "/secret.bin";
  TinyServer redirecting([&secret](int client) {
    test_support::send_all(client, "HTTP/1.1 302 Found\r\nLocation: " + secret +
                                       "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  const std::string url = url_of(redirecting.port(), "/320/240");
  const test_support::Finished run =
      download({"--url", url, "--count", "1", "--timeout-ms", "3000"});

  // One image, two modes.
  expect_failed(run, 2, {url, "redirected to a URL that is not http or https"});
  EXPECT_EQ(connections_waiting(ftp.get()), 0);
}

// A body with no Content-Length, sent until the client hangs up (64 MiB at
// most). Counts the clients that hung up before the end.
class EndlessServer {
 public:
  EndlessServer()
      : server_([this](int client) {
          test_support::send_all(client,
                                 "HTTP/1.1 200 OK\r\nContent-Type: image/bmp\r\n"
                                 "Connection: close\r\n\r\n");
          const std::string chunk(64 * 1024, 'x');
          for (int sent = 0; sent < 1024; ++sent) {
            if (send(client, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) {
              ++hung_up_;
              return;
            }
          }
        }) {}

  std::uint16_t port() const { return server_.port(); }
  int hung_up() const { return hung_up_; }

 private:
  std::atomic<int> hung_up_ = 0;
  TinyServer server_;  // last: its thread must not start before hung_up_ exists
};

TEST_F(ImageDownloaderTest, ABodyWithoutALengthStopsAtMaxBytes) {
  const EndlessServer endless;
  // --timeout-ms 0: with nothing else to stop it, only --max-bytes can.
  const test_support::Finished run =
      download({"--url", url_of(endless.port(), "/320/240"), "--count", "1", "--max-bytes",
                "1000000", "--timeout-ms", "0"});

  expect_failed(run, 2, {"larger than --max-bytes 1000000"});
  EXPECT_EQ(endless.hung_up(), 2);
}

TEST_F(ImageDownloaderTest, AnAnnouncedLengthOverTheDefaultMaxBytesFailsAtOnce) {
  // 100 GB announced, 1 MiB sent: without a limit, the image would fail
  // only once the server hangs up, as a partial file.
  TinyServer boasting([](int client) {
    test_support::send_all(client,
                           "HTTP/1.1 200 OK\r\nContent-Type: image/bmp\r\n"
                           "Content-Length: 100000000000\r\n\r\n" +
                               std::string(1024 * 1024, 'x'));
  });
  const test_support::Finished run =
      download({"--url", url_of(boasting.port(), "/320/240"), "--count", "1"});

  expect_failed(run, 2, {"larger than --max-bytes"});
}

TEST_F(ImageDownloaderTest, AnImageOfExactlyMaxBytesArrivesAndOneByteMoreDoesNot) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const std::string answer = http_get(server.port(), "/32/24");
  const std::size_t size = answer.size() - answer.find("\r\n\r\n") - 4;  // the picture's
  const std::string url = url_of(server.port(), "/32/24");

  const test_support::Finished exact =
      download({"--url", url, "--count", "1", "--max-bytes", std::to_string(size)});
  EXPECT_EQ(exact.exit_code, 0) << exact.error;
  EXPECT_EQ(saved_files().size(), 2u);

  std::filesystem::remove_all(out());
  const test_support::Finished over =
      download({"--url", url, "--count", "1", "--max-bytes", std::to_string(size - 1)});
  expect_failed(over, 2, {});
}

}  // namespace
