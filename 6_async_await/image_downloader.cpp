// Lesson 6: downloading images one after another, then all at once on our
// runtime, with libcurl doing the HTTP.
//
// Run it:      scripts/run.sh 6       (starts image_server, then runs this against it)
//              build/bin/image_downloader --count 20   (the real loremflickr.com)
// Observe:     --count images each way, into images/sync-NN.bmp and
//              images/async-NN.bmp, then how long each way took. With the
//              server's 200 ms per image, sync needs about 20 x 200 ms and
//              async about 200 ms: the speed-up is close to the count.
// Why:         download_sync() waits in curl_easy_perform() for each image in
//              turn, so the waiting adds up. download_async() starts one task
//              per image; each one sleeps in CurlMulti::perform() (see
//              curl_multi.hpp) while one event loop waits for all of them.
// New here:    the event loop drives sockets that someone else opens.
//              libcurl decides what to wait for; CurlMulti passes that on to
//              the loop's Selector and call_later(), and wakes the task whose
//              transfer is done. --max-parallel N caps how many run at once.
// Skip:        support/downloads.hpp reads the flags, saves each image complete
//              or not at all, caps the transfers at --max-parallel and keeps
//              the tally; none of it is about waiting.
// Shortcuts:   every image comes from the same URL (as with the course's
//              loremflickr); a program killed outright (SIGKILL) may leave a
//              hidden .part file behind.

#include <chrono>
#include <iomanip>
#include <iostream>
#include <optional>

#include "6_async_await/curl_multi.hpp"
#include "6_async_await/runtime/runtime.hpp"
#include "6_async_await/support/downloads.hpp"
#include "common/command_line.hpp"
#include "common/stop_signal.hpp"
#include "observer/observer.hpp"

namespace {

using lesson6::Download;
using lesson6::Options;
using lesson6::Tally;

template <typename Value>
void set(CURL* easy, CURLoption option, Value value) {
  lesson6::check(curl_easy_setopt(easy, option, value), "curl_easy_setopt");
}

// Called every second or so: lets Ctrl-C end a blocking curl_easy_perform.
int keep_going(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return common::stop_requested() ? 1 : 0;
}

// What both ways share: `easy` set up to fetch one image into `download`.
void set_up(CURL* easy, const Options& options, Download& download) {
  set(easy, CURLOPT_URL, options.url.c_str());
  set(easy, CURLOPT_WRITEFUNCTION, &Download::write);
  set(easy, CURLOPT_WRITEDATA, &download);
  set(easy, CURLOPT_FOLLOWLOCATION, 1L);  // loremflickr redirects to the picture
  set(easy, CURLOPT_MAXREDIRS, 5L);
  // Redirects too stay on the web: by default libcurl would follow one to ftp://.
  set(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  set(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t{options.max_bytes});
  set(easy, CURLOPT_TIMEOUT_MS, options.timeout_ms);
  set(easy, CURLOPT_USERAGENT, "image_downloader (asynchronous I/O lessons)");
  // Without this, libcurl's synchronous name resolver would time out with
  // SIGALRM, which no event loop wants to see.
  set(easy, CURLOPT_NOSIGNAL, 1L);
  set(easy, CURLOPT_NOPROGRESS, 0L);
  set(easy, CURLOPT_XFERINFOFUNCTION, &keep_going);
}

// ---- Synchronous: one image after another ----

// Python: for _ in range(N): write_image(get_image(URL), "sync")
// One handle for all of them, so libcurl keeps the connection open from one
// image to the next. With --timeline, each image is a track, and the thread
// blocks for each in turn.
void download_sync(const Options& options, Tally& tally) {
  const lesson6::EasyHandle easy = lesson6::make_easy_handle();
  for (long number = 1; number <= options.count; ++number) {
    const observer::Track image("image", number);
    Download download(options, lesson6::image_name("sync", number, options.count));
    observer::open(image, download.name());
    if (download.has_file()) {
      set_up(easy.get(), options, download);
      observer::wait("blocking in curl_easy_perform() for image ", number);
      download.save(easy.get(), curl_easy_perform(easy.get()));  // blocks until it is here
    }
    observer::close(image, download.failure().value_or("saved"));
    tally.add(download);
    if (common::stop_requested()) throw lesson6::Stopped();
  }
}

// ---- Asynchronous: one task per image, one event loop for all ----

// One image, as the course's fetch_content(): its own easy handle (a handle
// runs one transfer at a time), and a task that sleeps in perform() until
// libcurl has the whole image.
lesson6::Task<void> download_one(lesson6::CurlMulti& multi, const Options& options, long number,
                                 Tally& tally) {
  const observer::Track image("image", number);
  Download download(options, lesson6::image_name("async", number, options.count));
  observer::run(image, download.name(), " starts");
  if (download.has_file()) {
    const lesson6::EasyHandle easy = lesson6::make_easy_handle();
    set_up(easy.get(), options, download);
    observer::wait(image, "its task sleeps in perform() until libcurl has it");
    download.save(easy.get(), co_await multi.perform(easy.get()));
  }
  observer::close(image, download.failure().value_or("saved"));
  tally.add(download);
}

// Python: task = asyncio.create_task(fetch_content(URL, session)) per image,
// then await asyncio.gather(*tasks). Here at most --max-parallel run at once.
// With --timeline, each image is a track from the start: it is queued until a
// transfer ends and frees a slot.
lesson6::Task<void> download_async(Options options, Tally& tally) {
  lesson6::CurlMulti multi;  // inside a task, so the loop outlives it
  lesson6::trace_queued(options.count);
  co_await lesson6::gather_numbered(options.count, options.max_parallel, [&](long number) {
    return download_one(multi, options, number, tally);
  });
}

using Seconds = std::chrono::duration<double>;

}  // namespace

int main(int argc, char** argv) {
  try {
    const lesson6::CurlLibrary curl;  // before any other libcurl call
    const Options options = lesson6::read_options(argc, argv);
    lesson6::prepare_to_download(options);
    Tally tally(options.url, options.count);
    bool all_arrived = true;
    std::optional<Seconds> sync_took;
    std::optional<Seconds> async_took;
    if (options.mode != "async") {
      tally.begin("sync");
      const auto start = std::chrono::steady_clock::now();
      download_sync(options, tally);
      sync_took = std::chrono::steady_clock::now() - start;
      all_arrived &= tally.end(*sync_took);  // prints "sync: 20 images in 4.12 s"
    }
    if (options.mode != "sync") {
      tally.begin("async");
      const auto start = std::chrono::steady_clock::now();
      lesson6::run(download_async(options, tally));
      async_took = std::chrono::steady_clock::now() - start;
      all_arrived &= tally.end(*async_took);
    }
    // A speed-up means something only when both modes did the whole job.
    if (sync_took && async_took && all_arrived) {
      std::cout << "async was " << std::fixed << std::setprecision(1) << *sync_took / *async_took
                << "x faster than sync" << std::endl;
    }
    tally.hint_if_offline();
    return all_arrived ? 0 : 1;
  } catch (const lesson6::Stopped&) {
    std::cerr << "image_downloader: interrupted\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "image_downloader: " << error.what() << '\n';
    return 1;
  }
}
