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
//              EventLoop::watch() and call_later(), and wakes the task whose
//              transfer is done. --max-parallel N caps how many run at once.
// Shortcuts:   every image comes from the same URL (as with the course's
//              loremflickr); a program killed outright (SIGKILL) may leave a
//              hidden .part file behind.

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "6_async_await/curl_multi.hpp"
#include "6_async_await/runtime/runtime.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

struct Options {
  std::string url = "https://loremflickr.com/320/240";
  long count = 20;
  std::string out = "images";
  std::string mode = "both";
  long max_parallel = 0;  // 0: every image at once
  long timeout_ms = 30'000;
};

struct UrlCleanup {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

// An http:// or https:// URL that libcurl can parse, or we refuse to start.
bool is_web_url(const std::string& text) {
  const std::unique_ptr<CURLU, UrlCleanup> url(curl_url());
  if (!url || curl_url_set(url.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return false;
  char* scheme = nullptr;
  if (curl_url_get(url.get(), CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) return false;
  const std::string_view name = scheme;
  const bool web = name == "http" || name == "https";
  curl_free(scheme);
  return web;
}

// "sync-01": numbered from 1, as wide as the count needs, so that names sort.
std::string file_name(std::string_view mode, long number, long count) {
  const std::size_t width = std::max<std::size_t>(2, std::to_string(count).size());
  std::string digits = std::to_string(number);
  digits.insert(0, width - digits.size(), '0');
  return std::string(mode) + "-" + digits;
}

// "image/bmp" gives "bmp", "image/jpeg" "jpg". Anything else, or anything
// that could smuggle a path into a file name, gives "bin".
std::string extension_for(const char* content_type) {
  if (content_type == nullptr) return "bin";
  const std::string_view whole = content_type;
  std::string type(whole.substr(0, whole.find(';')));
  std::erase_if(type, [](unsigned char c) { return std::isspace(c); });
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!type.starts_with("image/")) return "bin";
  const std::string subtype = type.substr(6);
  if (subtype == "jpeg") return "jpg";
  if (subtype.empty() || subtype.size() > 8 ||
      !std::all_of(subtype.begin(), subtype.end(),
                   [](unsigned char c) { return std::isalnum(c); })) {
    return "bin";
  }
  return subtype;
}

// One image on its way to disk. libcurl writes it into a hidden ".part"
// file; save() renames that to the real name only when the whole transfer
// succeeded, and whatever is left when the Download goes (a failure, an
// exception, Ctrl-C) is deleted. So a file is complete or not there at all.
class Download {
 public:
  Download(const Options& options, std::string name)
      : options_(options),
        name_(std::move(name)),
        partial_(std::filesystem::path(options.out) / ("." + name_ + ".part")),
        file_(partial_, std::ios::binary | std::ios::trunc) {
    if (!file_) throw std::runtime_error("cannot write " + partial_.string());
  }
  ~Download() {
    if (saved_) return;
    file_.close();
    std::error_code ignored;  // nothing to do if it is already gone
    std::filesystem::remove(partial_, ignored);
  }
  Download(const Download&) = delete;
  Download& operator=(const Download&) = delete;

  // Sets `easy` up to fetch this image: the URL, where the bytes go, limits.
  void attach(CURL* easy) {
    set(easy, CURLOPT_URL, options_.url.c_str());
    set(easy, CURLOPT_WRITEFUNCTION, &Download::write);
    set(easy, CURLOPT_WRITEDATA, this);
    set(easy, CURLOPT_FOLLOWLOCATION, 1L);  // loremflickr redirects to the picture
    set(easy, CURLOPT_MAXREDIRS, 5L);
    set(easy, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
    set(easy, CURLOPT_USERAGENT, "image_downloader (asynchronous I/O lessons)");
    // Without this, libcurl's synchronous name resolver would time out with
    // SIGALRM, which no event loop wants to see.
    set(easy, CURLOPT_NOSIGNAL, 1L);
    // Called every second or so: lets Ctrl-C end a blocking curl_easy_perform.
    set(easy, CURLOPT_NOPROGRESS, 0L);
    set(easy, CURLOPT_XFERINFOFUNCTION, &Download::keep_going);
  }

  // libcurl's verdict in; nullopt out when the file is in place, otherwise
  // one line that says which image failed and why.
  std::optional<std::string> save(CURL* easy, CURLcode result) {
    if (result != CURLE_OK) return failure(curl_easy_strerror(result));
    long status = 0;
    lesson6::check(curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status), "response code");
    if (status < 200 || status > 299) return failure("HTTP " + std::to_string(status));
    char* content_type = nullptr;
    lesson6::check(curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &content_type), "content type");
    file_.close();
    if (!file_) return failure("cannot write " + partial_.string());
    std::error_code error;
    const std::filesystem::path final_path =
        partial_.parent_path() / (name_ + "." + extension_for(content_type));
    std::filesystem::rename(partial_, final_path, error);
    if (error) return failure("cannot rename to " + final_path.string() + ": " + error.message());
    saved_ = true;
    return std::nullopt;
  }

 private:
  template <typename Value>
  static void set(CURL* easy, CURLoption option, Value value) {
    lesson6::check(curl_easy_setopt(easy, option, value), "curl_easy_setopt");
  }

  // libcurl hands over the body in pieces; a short count tells it to stop.
  static std::size_t write(char* data, std::size_t size, std::size_t count, void* self) {
    std::ofstream& file = static_cast<Download*>(self)->file_;
    file.write(data, static_cast<std::streamsize>(size * count));
    return file ? size * count : 0;
  }

  static int keep_going(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return common::stop_requested() ? 1 : 0;
  }

  std::string failure(std::string_view reason) const {
    return name_ + " from " + options_.url + ": " + std::string(reason);
  }

  const Options& options_;
  std::string name_;
  std::filesystem::path partial_;
  std::ofstream file_;
  bool saved_ = false;
};

// "async: 7/20", redrawn in place, for a person watching a terminal. Output
// that goes to a pipe or a file gets the summary alone.
class Progress {
 public:
  Progress(std::string_view mode, long total)
      : mode_(mode), total_(total), shown_(isatty(STDOUT_FILENO) == 1) {
    draw();
  }
  ~Progress() {
    if (shown_) std::cout << "\r\033[K" << std::flush;  // wipe the line
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance() {
    ++done_;
    draw();
  }

 private:
  void draw() const {
    if (shown_) std::cout << '\r' << mode_ << ": " << done_ << '/' << total_ << std::flush;
  }

  std::string mode_;
  long total_;
  long done_ = 0;
  bool shown_;
};

// ---- Synchronous: one image after another ----

// Python: for url in urls: download(url). One handle for all of them, so
// libcurl keeps the connection open from one image to the next.
std::vector<std::string> download_sync(const Options& options) {
  const lesson6::EasyHandle easy = lesson6::make_easy_handle();
  Progress progress("sync", options.count);
  std::vector<std::string> failures;
  for (long number = 1; number <= options.count; ++number) {
    Download download(options, file_name("sync", number, options.count));
    download.attach(easy.get());
    const CURLcode result = curl_easy_perform(easy.get());  // blocks until this image is here
    if (auto failure = download.save(easy.get(), result)) failures.push_back(std::move(*failure));
    if (common::stop_requested()) throw lesson6::Stopped();
    progress.advance();
  }
  return failures;
}

// ---- Asynchronous: one task per image, one event loop for all ----

// One image: its own easy handle (a handle runs one transfer at a time), and
// a task that sleeps in perform() until libcurl has the whole image.
lesson6::Task<std::optional<std::string>> download_one(lesson6::CurlMulti& multi,
                                                       const Options& options, std::string name) {
  const lesson6::EasyHandle easy = lesson6::make_easy_handle();
  Download download(options, std::move(name));
  download.attach(easy.get());
  const CURLcode result = co_await multi.perform(easy.get());
  co_return download.save(easy.get(), result);
}

struct Batch {
  long next = 1;  // the number of the next image nobody has started yet
  std::vector<std::string> failures;
  Progress progress;
};

// --max-parallel N starts N of these; each takes the next image, waits for
// it, and takes another. By default there are as many workers as images, so
// each one fetches exactly one.
lesson6::Task<void> worker(lesson6::CurlMulti& multi, const Options& options, Batch& batch) {
  while (batch.next <= options.count) {
    const long number = batch.next++;
    auto failure = co_await download_one(multi, options, file_name("async", number, options.count));
    if (failure) batch.failures.push_back(std::move(*failure));
    batch.progress.advance();
  }
}

// Python: await asyncio.gather(*(download(url) for url in urls))
lesson6::Task<std::vector<std::string>> download_async(Options options) {
  lesson6::CurlMulti multi;  // inside a task, so the loop outlives it
  Batch batch{1, {}, Progress("async", options.count)};
  const long workers =
      options.max_parallel == 0 ? options.count : std::min(options.max_parallel, options.count);
  std::vector<lesson6::Task<void>> tasks;
  for (long i = 0; i < workers; ++i) {
    tasks.push_back(worker(multi, options, batch));
  }
  co_await lesson6::gather(std::move(tasks));
  std::sort(batch.failures.begin(), batch.failures.end());  // finishing order is anybody's guess
  co_return std::move(batch.failures);
}

// ---- Reporting ----

using Seconds = std::chrono::duration<double>;

// The failures on standard error, one line each, then "sync: 20 images in
// 4.12 s" on standard output. Returns whether every image arrived.
bool report(std::string_view mode, const std::vector<std::string>& failures, long count,
            Seconds took) {
  for (const std::string& failure : failures) {
    std::cerr << "failed: " << failure << '\n';
  }
  const long arrived = count - static_cast<long>(failures.size());
  std::cout << mode << ": " << arrived;
  if (arrived != count) std::cout << " of " << count;
  std::cout << " images in " << std::fixed << std::setprecision(2) << took.count() << " s"
            << std::endl;
  return failures.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  common::CommandLine command_line(
      "image_downloader",
      "Lesson 6: downloads --count images one after another (sync), then all at\n"
      "once on the lesson's event loop (async), and compares how long each took.");
  command_line.option("--url", "where to download each image from", options.url);
  command_line.option("--count", "how many images", options.count, 1, 1000);
  command_line.option("--out", "the folder for the images, created if missing", options.out);
  command_line.option("--mode", "sync, async or both", options.mode);
  command_line.option("--max-parallel", "async transfers at once; 0: all of them",
                      options.max_parallel, 0, 1000);
  command_line.option("--timeout-ms", "give up on an image after this long; 0: never",
                      options.timeout_ms, 0, 3'600'000);
  command_line.parse(argc, argv);
  if (options.mode != "sync" && options.mode != "async" && options.mode != "both") {
    command_line.fail("bad value '" + options.mode + "' for --mode: sync, async or both");
  }

  try {
    const lesson6::CurlLibrary curl;  // before any other libcurl call
    if (!is_web_url(options.url)) {
      command_line.fail("bad value '" + options.url + "' for --url: not an http(s) URL");
    }
    // run() would install them too, but the sync mode comes first.
    common::install_stop_handlers();
    // All at once, each image is a socket and a file: a thousand of them need
    // more descriptors than the usual default of 1024.
    common::raise_descriptor_limit();
    std::filesystem::create_directories(options.out);
    bool all_arrived = true;
    std::optional<Seconds> sync_took;
    std::optional<Seconds> async_took;
    if (options.mode != "async") {
      const auto start = std::chrono::steady_clock::now();
      const std::vector<std::string> failures = download_sync(options);
      sync_took = std::chrono::steady_clock::now() - start;
      all_arrived &= report("sync", failures, options.count, *sync_took);
    }
    if (options.mode != "sync") {
      const auto start = std::chrono::steady_clock::now();
      const std::vector<std::string> failures = lesson6::run(download_async(options));
      async_took = std::chrono::steady_clock::now() - start;
      all_arrived &= report("async", failures, options.count, *async_took);
    }
    // A speed-up means something only when both modes did the whole job.
    if (sync_took && async_took && all_arrived) {
      std::cout << "async was " << std::setprecision(1) << *sync_took / *async_took
                << "x faster than sync" << std::endl;
    }
    return all_arrived ? 0 : 1;
  } catch (const lesson6::Stopped&) {
    std::cerr << "image_downloader: interrupted\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "image_downloader: " << error.what() << '\n';
    return 1;
  }
}
