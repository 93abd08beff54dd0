// libcurl's multi interface driven by our event loop, so that one thread runs
// many transfers at once and a task can simply co_await its own.
//
// The marriage has four parts, all in curl_multi.cpp:
// - the socket callback: libcurl says which of its sockets to watch for
//   reading or writing, and when to stop; we pass that on to the loop;
// - the timer callback: libcurl asks to be woken after so many milliseconds
//   (for timeouts, retries, or simply "go on at once"); one timer of ours;
// - the loop's callbacks: a socket became ready or the timer fired, so we
//   call curl_multi_socket_action, which moves the transfers along, then
//   drain curl_multi_info_read for the transfers that have finished;
// - perform(): a task hands over a transfer and sleeps until it is done.
// No curl_multi_perform busy loop, no threads of ours. (perform_blocking(),
// for the way without a loop, is curl_easy_perform.)
#pragma once

#include <curl/curl.h>

#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "6_async_await/runtime/event_loop.hpp"
#include "6_async_await/runtime/task.hpp"

namespace lesson6 {

// libcurl's handles, owned like any other resource.
struct EasyCleanup {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using EasyHandle = std::unique_ptr<CURL, EasyCleanup>;
EasyHandle make_easy_handle();

// libcurl reports errors as return codes; these turn one into an exception
// (std::runtime_error) that names the call which failed.
void check(CURLcode code, std::string_view call);
void check(CURLMcode code, std::string_view call);

// curl_easy_perform(easy), which blocks the thread until the transfer is
// done. With --trace and --timeline, the loop's track says so, and for what
// (the running track: an image's, say).
CURLcode perform_blocking(CURL* easy);

// curl_global_init once per program, before any other libcurl call, and its
// cleanup after the last handle is gone: construct one early in main().
class CurlLibrary {
 public:
  CurlLibrary();
  ~CurlLibrary() { curl_global_cleanup(); }
  CurlLibrary(const CurlLibrary&) = delete;
  CurlLibrary& operator=(const CurlLibrary&) = delete;
};

// One multi handle on the current event loop. It calls back into the loop
// while it lives and when it goes, so it lives inside a task (the loop
// outlives it), and every task that uses it ends before it does. With
// --trace, it says what libcurl's sockets wake the loop for, and a task's
// track shows it asleep in perform() until its transfer is done.
class CurlMulti {
 public:
  CurlMulti();
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // Runs the transfer `easy` is set up for; the calling task sleeps until it
  // has finished, then gets libcurl's verdict (CURLE_OK or what went wrong).
  Task<CURLcode> perform(CURL* easy);

 private:
  class Transfer;
  struct MultiCleanup {
    void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
  };

  static int on_socket(CURL* easy, curl_socket_t socket, int what, void* self, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void socket_action(curl_socket_t socket, int events);
  void finish_transfers();
  std::unique_ptr<CURLM, MultiCleanup> multi_;
  std::optional<EventLoop::TimerId> timer_;       // libcurl wants one timer, never more
  std::unordered_map<CURL*, Transfer*> waiting_;  // which task waits for which transfer
};

}  // namespace lesson6
