// Lesson 6: the course's image downloader, one image after another, then all
// at once on our runtime, with libcurl doing the HTTP.
// Run it: scripts/run.sh 6   (starts image_server, then runs this against it)
//         build/bin/image_downloader --count 20   (the real loremflickr.com)
// Watch: sync-01.bmp... then async-01.bmp... land in --out (build/images from
// run.sh 6). At 200 ms a picture, sync takes about 20 x 200 ms and async about
// 200 ms. --timeline draws a staircase, then an overlap. DOWNLOADER.md walks
// through it.

#include <array>
#include <charconv>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "6_async_await/curl_multi.hpp"
#include "6_async_await/runtime/runtime.hpp"
#include "6_async_await/support/downloads.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

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
  set(easy, CURLOPT_WRITEFUNCTION, &Download::append);
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

// Python: get_image(url). The thread blocks in curl_easy_perform() until the
// whole image is here; libcurl writes it into `download` as it comes.
CURLcode get_image(CURL* easy, const Options& options, Download& download) {
  set_up(easy, options, download);
  return lesson6::perform_blocking(easy);
}

// Python: for _ in range(N): write_image(get_image(URL), "sync")
// One handle for all of them, so libcurl keeps the connection open from one
// image to the next.
void sync_download(const Options& options, Tally& tally) {
  const lesson6::EasyHandle easy = lesson6::make_easy_handle();
  for (long number = 1; number <= options.count; ++number) {
    Download download(options, "sync", number);
    if (download.has_file()) {
      download.write_image(easy.get(), get_image(easy.get(), options, download));
    }
    tally.add(download);
    if (common::stop_requested()) throw lesson6::Stopped();
  }
}

// ---- Asynchronous: one task per image, one event loop for all ----

// Python: fetch_content(url, session). First a slot (at most --max-parallel
// transfers at once), then its own easy handle (a handle runs one transfer at
// a time), and a task that sleeps in perform() until libcurl has the image.
lesson6::Task<void> fetch_content(lesson6::CurlMulti& multi, lesson6::Slots& slots,
                                  const Options& options, long number, Tally& tally) {
  lesson6::Slot slot(slots);
  co_await slot;
  Download download(options, "async", number);
  if (download.has_file()) {
    const lesson6::EasyHandle easy = lesson6::make_easy_handle();
    set_up(easy.get(), options, download);
    download.write_image(easy.get(), co_await multi.perform(easy.get()));
  }
  tally.add(download);
}

// Python: async_download(), which creates a task of fetch_content() per image,
// then awaits asyncio.gather(*tasks); CurlMulti plays aiohttp's ClientSession.
lesson6::Task<void> async_download(Options options, Tally& tally) {
  lesson6::CurlMulti multi;  // inside a task, so the loop outlives it
  lesson6::Slots slots(options.max_parallel);
  std::vector<lesson6::Task<void>> tasks;
  for (long number = 1; number <= options.count; ++number) {
    tasks.push_back(fetch_content(multi, slots, options, number, tally));
  }
  co_await lesson6::gather(std::move(tasks));
}

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

struct Outcome {  // of one way, for the lines the course prints at the end
  long arrived;
  Seconds took;
};

// Python: print(f"Synchronous download of {N} images took: {sync_end - sync_start} seconds.")
// Python prints as many digits as tell the number apart from its
// neighbours, and so does std::to_chars.
void print_outcome(std::string_view way, Outcome outcome, long count) {
  std::array<char, 32> digits{};
  const char* const end =
      std::to_chars(digits.data(), digits.data() + digits.size(), outcome.took.count()).ptr;
  std::cout << way << " download of ";
  if (outcome.arrived != count) std::cout << outcome.arrived << " of ";
  std::cout << count << " images took: " << std::string_view(digits.data(), end) << " seconds."
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const lesson6::CurlLibrary curl;  // before any other libcurl call
    const Options options = lesson6::read_options(argc, argv);
    common::install_stop_handlers();  // run() would too, but the sync way comes first
    // All at once costs a socket and a file per image at the same time: a
    // thousand images need more descriptors than the usual limit of 1024.
    common::raise_descriptor_limit();
    lesson6::make_folder(options.out);
    Tally tally(options.url, options.count);
    std::optional<Outcome> sync;
    std::optional<Outcome> async;
    if (options.mode != "async") {
      tally.begin("sync");
      const Clock::time_point sync_start = Clock::now();
      sync_download(options, tally);
      const Seconds took = Clock::now() - sync_start;
      sync = Outcome{tally.end(), took};
    }
    if (options.mode != "sync") {
      tally.begin("async");
      const Clock::time_point async_start = Clock::now();
      lesson6::run(async_download(options, tally));
      const Seconds took = Clock::now() - async_start;
      async = Outcome{tally.end(), took};
    }
    if (sync) print_outcome("Synchronous", *sync, options.count);
    if (async) print_outcome("Asynchronous", *async, options.count);
    const bool all_arrived =
        (!sync || sync->arrived == options.count) && (!async || async->arrived == options.count);
    // Not the course's: a speed-up, which means something only when both ways
    // did the whole job.
    if (sync && async && all_arrived) {
      std::cout << "async was " << std::fixed << std::setprecision(1) << sync->took / async->took
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
