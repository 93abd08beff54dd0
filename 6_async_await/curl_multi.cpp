#include "6_async_await/curl_multi.hpp"
#include "observer/observer.hpp"

#include <coroutine>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>

namespace lesson6 {

EasyHandle make_easy_handle() {
  EasyHandle easy(curl_easy_init());
  if (!easy) throw std::runtime_error("curl_easy_init failed");
  return easy;
}

void check(CURLcode code, std::string_view call) {
  if (code != CURLE_OK) {
    throw std::runtime_error(std::string(call) + ": " + curl_easy_strerror(code));
  }
}

void check(CURLMcode code, std::string_view call) {
  if (code != CURLM_OK) {
    throw std::runtime_error(std::string(call) + ": " + curl_multi_strerror(code));
  }
}

CURLcode perform_blocking(CURL* easy) {
  if (is_the_loops(running_track)) {
    observer::wait("blocking in curl_easy_perform()");
  } else {
    observer::wait("blocking in curl_easy_perform() for ", running_track.noun, ' ',
                   running_track.number);
  }
  return curl_easy_perform(easy);
}

CurlLibrary::CurlLibrary() {
  check(curl_global_init(CURL_GLOBAL_DEFAULT), "curl_global_init");
}

// A task waiting for its transfer. It lives in perform()'s frame: it adds the
// easy handle to the multi handle, it is what the task co_awaits, and it
// takes the handle out again however the task ends, finished or destroyed
// while it waits (Ctrl-C), so libcurl never holds a handle nobody waits for.
class CurlMulti::Transfer {
 public:
  Transfer(CurlMulti& multi, CURL* easy) : multi_(multi), easy_(easy) {
    multi_.waiting_.emplace(easy_, this);
    const CURLMcode added = curl_multi_add_handle(multi_.multi_.get(), easy_);
    if (added != CURLM_OK) multi_.waiting_.erase(easy_);
    check(added, "curl_multi_add_handle");
  }
  ~Transfer() {
    // Finished, but destroyed before its turn came: it must not be resumed.
    if (woken_) {
      if (EventLoop* const loop = EventLoop::running()) loop->unschedule(task_);
    }
    multi_.waiting_.erase(easy_);
    // Only a bad handle makes this fail, and a destructor has nobody to tell.
    curl_multi_remove_handle(multi_.multi_.get(), easy_);
  }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  // Adding the handle only asked libcurl to start on the next loop turn, so
  // the transfer cannot be done yet: always suspend.
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> task) {
    task_ = task;
    track_ = running_track;
    if (!is_the_loops(track_)) {
      observer::wait(track_, "sleeps in perform() until libcurl has done the transfer");
    }
  }
  CURLcode await_resume() noexcept {
    woken_ = false;
    return result_;
  }

  // The loop resumes the task, on its track, once the drain that found it
  // done is over: its Transfer takes the handle out, which ends a CURLMsg.
  void finish(CURLcode result) {
    result_ = result;
    EventLoop::current().schedule(task_, track_);
    woken_ = true;
  }

 private:
  CurlMulti& multi_;
  CURL* easy_;
  std::coroutine_handle<> task_;
  observer::Track track_ = observer::Timeline::loop;  // the task's, as it went to sleep
  CURLcode result_ = CURLE_OK;
  bool woken_ = false;  // scheduled to resume, and not resumed yet
};

CurlMulti::CurlMulti() : multi_(curl_multi_init()) {
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
  check(curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket),
        "CURLMOPT_SOCKETFUNCTION");
  check(curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this), "CURLMOPT_SOCKETDATA");
  check(curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer),
        "CURLMOPT_TIMERFUNCTION");
  check(curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this), "CURLMOPT_TIMERDATA");
}

CurlMulti::~CurlMulti() {
  // Cleaning up closes the connections libcurl kept for reuse and tells
  // on_socket and on_timer about it, so it comes first, while every member
  // those callbacks touch (multi_ itself among them) is still alive.
  // Not multi_.reset(): that empties multi_ before it cleans up.
  curl_multi_cleanup(multi_.get());
  multi_.release();
  if (EventLoop* const loop = EventLoop::running(); loop != nullptr && timer_) {
    loop->cancel(*timer_);
  }
}

Task<CURLcode> CurlMulti::perform(CURL* easy) {
  Transfer transfer(*this, easy);
  co_return co_await transfer;
}

// libcurl: "watch this socket for reading (CURL_POLL_IN), writing
// (CURL_POLL_OUT) or both", or "forget it" (CURL_POLL_REMOVE). socket_data is
// what curl_multi_assign() attached to the socket: null the first time.
// This is C calling us, so no exception may leave: -1 tells libcurl instead.
int CurlMulti::on_socket(CURL*, curl_socket_t socket, int what, void* self, void* socket_data) {
  CurlMulti& multi = *static_cast<CurlMulti*>(self);
  try {
    EventLoop& loop = EventLoop::current();
    if (what == CURL_POLL_REMOVE) {
      loop.unwatch(socket);  // libcurl may have closed it already: unwatch() copes
      return 0;
    }
    lesson3::EventMask events = 0;
    if ((what & CURL_POLL_IN) != 0) events |= lesson3::event_read;
    if ((what & CURL_POLL_OUT) != 0) events |= lesson3::event_write;
    if (socket_data != nullptr) {
      loop.selector().modify(socket, events);
      return 0;
    }
    loop.selector().register_fd(socket, events, [&multi, socket](lesson3::EventMask ready) {
      observer::note("libcurl's fd ", socket, " is ready to ", lesson3::describe(ready),
                     ": curl_multi_socket_action()");
      int happened = 0;
      if ((ready & lesson3::event_read) != 0) happened |= CURL_CSELECT_IN;
      if ((ready & lesson3::event_write) != 0) happened |= CURL_CSELECT_OUT;
      multi.socket_action(socket, happened);
    });
    // Any pointer will do: it only marks the socket as watched already.
    check(curl_multi_assign(multi.multi_.get(), socket, &multi), "curl_multi_assign");
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "curl_multi: cannot watch a socket: " << error.what() << '\n';
    return -1;
  }
}

// libcurl: "call me back in timeout_ms", replacing any earlier wish; -1: "no
// need". Calling curl_multi_socket_action from in here is not allowed, so even
// 0 means a timer, one the loop runs once libcurl's call has returned.
int CurlMulti::on_timer(CURLM*, long timeout_ms, void* self) {
  CurlMulti& multi = *static_cast<CurlMulti*>(self);
  try {
    EventLoop& loop = EventLoop::current();
    if (multi.timer_) loop.cancel(*std::exchange(multi.timer_, std::nullopt));
    if (timeout_ms >= 0) {
      multi.timer_ = loop.call_later(std::chrono::milliseconds(timeout_ms), [&multi] {
        multi.timer_.reset();
        multi.socket_action(CURL_SOCKET_TIMEOUT, 0);
      });
    }
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "curl_multi: cannot set a timer: " << error.what() << '\n';
    return -1;
  }
}

// The loop's side: something happened on `socket` (or the timer fired), so
// let libcurl move its transfers along, then collect the finished ones.
void CurlMulti::socket_action(curl_socket_t socket, int events) {
  int running = 0;  // we learn which transfers ended from curl_multi_info_read instead
  check(curl_multi_socket_action(multi_.get(), socket, events, &running),
        "curl_multi_socket_action");
  finish_transfers();
}

void CurlMulti::finish_transfers() {
  int queued = 0;
  while (const CURLMsg* message = curl_multi_info_read(multi_.get(), &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    // The handle stays in the multi until its task wakes and takes it out,
    // so `message` is still valid here.
    const auto waiting = waiting_.find(message->easy_handle);
    if (waiting != waiting_.end()) waiting->second->finish(message->data.result);
  }
}

}  // namespace lesson6
