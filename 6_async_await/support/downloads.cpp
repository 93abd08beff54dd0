#include "6_async_await/support/downloads.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <memory>
#include <span>
#include <stdexcept>
#include <system_error>

#include "6_async_await/curl_multi.hpp"
#include "6_async_await/runtime/event_loop.hpp"
#include "6_async_await/runtime/task.hpp"
#include "common/command_line.hpp"
#include "observer/observer.hpp"

namespace lesson6 {

namespace {

std::string system_reason(int error) {
  return std::generic_category().message(error);
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

struct UrlCleanup {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

// An http:// or https:// URL that libcurl can parse.
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

std::string image_name(std::string_view mode, long number, long count) {
  const std::size_t width = std::max<std::size_t>(2, std::to_string(count).size());
  std::string digits = std::to_string(number);
  digits.insert(0, width - digits.size(), '0');
  return std::string(mode) + "-" + digits;
}

}  // namespace

void make_folder(const std::string& out) {
  std::error_code not_created;
  std::filesystem::create_directories(out, not_created);
  std::error_code ignored;  // a question that fails is answered "no"
  if (std::filesystem::is_directory(out, ignored)) return;  // a link to a folder will do
  const std::string cannot = "cannot save images in --out " + out + ": ";
  // Which part of the path is in the way: a file, or a link that leads nowhere?
  std::filesystem::path part;
  for (const std::filesystem::path& name : std::filesystem::path(out)) {
    part /= name;
    if (std::filesystem::is_directory(part, ignored)) continue;
    if (std::filesystem::is_symlink(part, ignored)) {
      const std::string target = std::filesystem::read_symlink(part, ignored).string();
      throw std::runtime_error(
          cannot + part.string() + " is a link to " + target + ", which " +
          (std::filesystem::exists(part, ignored) ? "is not a folder" : "does not exist"));
    }
    if (std::filesystem::exists(part, ignored)) {
      throw std::runtime_error(cannot + part.string() + " is not a folder");
    }
    break;
  }
  throw std::runtime_error(cannot + not_created.message());
}

Options read_options(int argc, char** argv) {
  Options options;
  common::CommandLine command_line(
      "image_downloader",
      "Lesson 6: downloads --count images one after another (sync), then all at\n"
      "once on the lesson's event loop (async), and compares how long each took.");
  command_line.option("--url", "where to download each image from", options.url);
  command_line.option("--count", "how many images", options.count, 1, 1000);
  command_line.option("--out", "the folder for the images, created if missing", options.out,
                      [](std::string_view out) { return !out.empty(); });
  command_line.option("--mode", "sync, async or both", options.mode);
  command_line.option("--max-parallel", "async transfers at once; 0: all of them",
                      options.max_parallel, 0, 1000);
  command_line.option("--timeout-ms", "give up on an image after this long; 0: never",
                      options.timeout_ms, 0, 3'600'000);
  command_line.option("--max-bytes", "give up on an image of more bytes than this",
                      options.max_bytes, 1, 10'000'000'000);
  command_line.add_observer_options();
  command_line.parse(argc, argv);
  if (options.mode != "sync" && options.mode != "async" && options.mode != "both") {
    command_line.fail("bad value '" + options.mode + "' for --mode: sync, async or both");
  }
  if (!is_web_url(options.url)) {
    command_line.fail("bad value '" + without_password(options.url) +
                      "' for --url: not an http(s) URL");
  }
  return options;
}

// The user and password sit between "//" and the last '@' before the path
// (RFC 3986: none of "/?#" may appear in them unencoded); the password
// follows the first ':' there. This works on malformed URLs too.
std::string without_password(std::string_view url) {
  std::string shown(url);
  const std::size_t authority = url.find("//");
  if (authority == std::string_view::npos) return shown;
  const std::size_t path = url.find_first_of("/?#", authority + 2);
  const std::size_t at = url.substr(0, path).rfind('@');
  if (at == std::string_view::npos || at < authority) return shown;
  const std::size_t colon = url.find(':', authority + 2);
  if (colon < at) shown.replace(colon + 1, at - colon - 1, "***");
  return shown;
}

Download::Download(const Options& options, std::string_view mode, long number)
    : name_(image_name(mode, number, options.count)),
      track_(running_track),
      own_track_(is_the_loops(running_track)),
      max_bytes_(options.max_bytes) {
  if (own_track_) {  // no task runs: the image is what the thread works for
    track_ = observer::Track("image", number);
    observer::open(track_, name_);
    running_track = track_;  // so perform_blocking() says what it blocks for
  } else {
    observer::note(track_, "downloads ", name_);
  }
  // O_EXCL makes open() fail when the name exists, even as a symbolic link,
  // so the bytes never land in a file that is not ours. The process id keeps
  // two runs into one folder apart; a name that is taken all the same
  // (planted, or left by a run that was killed) makes us try the next.
  const std::filesystem::path folder = options.out;
  int error = EEXIST;
  for (int attempt = 1; attempt <= 100 && error == EEXIST; ++attempt) {
    const std::filesystem::path partial = folder / ("." + name_ + "." + std::to_string(getpid()) +
                                                    "-" + std::to_string(attempt) + ".part");
    file_ = common::FileDescriptor(
        ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
    if (file_) {
      partial_ = partial;
      return;
    }
    error = errno;
  }
  failure_ = "cannot create a file in " + folder.string() + ": " + system_reason(error);
}

Download::~Download() {
  // None when a stop cut the transfer short.
  const std::optional<std::string> outcome = saved_ ? "saved" : failure_;
  if (own_track_) {
    observer::close(track_, outcome.value_or("stopped"));
    running_track = observer::Timeline::loop;
  } else if (outcome) {
    observer::note(track_, name_, ": ", *outcome);
  }
  if (saved_ || partial_.empty()) return;
  file_.reset();
  ::unlink(partial_.c_str());  // nothing more to do if that fails: it is only a leftover
}

std::size_t Download::append(char* data, std::size_t size, std::size_t count, void* self) {
  Download& download = *static_cast<Download*>(self);
  std::span<const char> piece(data, size * count);
  // A body with no Content-Length can be endless: CURLOPT_MAXFILESIZE_LARGE
  // cannot stop those, so we count. Returning less than we were given tells
  // libcurl to stop the transfer.
  if (static_cast<curl_off_t>(piece.size()) > download.max_bytes_ - download.written_) {
    download.failure_ = download.too_big();
    return 0;
  }
  while (!piece.empty()) {
    const ssize_t written = ::write(download.file_.get(), piece.data(), piece.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) {
      download.failure_ =
          "cannot write " + download.partial_.string() + ": " + system_reason(errno);
      return 0;
    }
    piece = piece.subspan(static_cast<std::size_t>(written));
  }
  download.written_ += static_cast<curl_off_t>(size * count);
  return size * count;
}

void Download::write_image(CURL* easy, CURLcode result) {
  // Our write callback stopped the transfer, and said why.
  if (failure_) return;
  // libcurl refused a Content-Length over CURLOPT_MAXFILESIZE_LARGE.
  if (result == CURLE_FILESIZE_EXCEEDED) {
    failure_ = too_big();
    return;
  }
  // --url is http(s) (read_options() saw to it), so only a redirect can lead
  // to a protocol that CURLOPT_REDIR_PROTOCOLS_STR leaves out.
  if (result == CURLE_UNSUPPORTED_PROTOCOL) {
    failure_ = "redirected to a URL that is not http or https";
    return;
  }
  if (result != CURLE_OK) {
    failure_ = curl_easy_strerror(result);
    host_unknown_ = result == CURLE_COULDNT_RESOLVE_HOST || result == CURLE_COULDNT_RESOLVE_PROXY;
    return;
  }
  long status = 0;
  check(curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status), "response code");
  if (status < 200 || status > 299) {
    failure_ = "HTTP " + std::to_string(status);
    return;
  }
  char* content_type = nullptr;
  check(curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &content_type), "content type");
  // close() is where a full disk may speak up last.
  if (::close(file_.release()) != 0) {
    failure_ = "cannot write " + partial_.string() + ": " + system_reason(errno);
    return;
  }
  // The first free name of sync-01.bmp, sync-01-2.bmp, sync-01-3.bmp...: a
  // run into a folder that holds other runs' images adds its own. With
  // RENAME_NOREPLACE, the rename fails if the name is taken, in the same step
  // that would replace it, so no other run can slip its file in between.
  const std::string extension = extension_for(content_type);
  for (int attempt = 1;; ++attempt) {
    const std::string name = attempt == 1 ? name_ : name_ + "-" + std::to_string(attempt);
    const std::filesystem::path final_path = partial_.parent_path() / (name + "." + extension);
    if (::renameat2(AT_FDCWD, partial_.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) ==
        0) {
      saved_ = true;
      return;
    }
    if (errno != EEXIST) {
      failure_ = "cannot rename to " + final_path.string() + ": " + system_reason(errno);
      return;
    }
  }
}

std::string Download::too_big() const {
  return "larger than --max-bytes " + std::to_string(max_bytes_);
}

void Slots::give_back() {
  if (count_ == 0) return;
  EventLoop* const loop = EventLoop::running();
  if (line_.empty() || loop == nullptr) {
    ++free_;
    return;
  }
  Slot& next = *line_.front();
  line_.pop_front();
  next.state_ = Slot::State::handed;
  loop->schedule(next.task_, next.track_);  // the loop resumes it, not this task
}

bool Slot::await_ready() {
  if (slots_.count_ != 0) {
    if (slots_.free_ == 0) return false;
    --slots_.free_;
  }
  state_ = State::held;
  return true;
}

void Slot::await_suspend(std::coroutine_handle<> task) {
  task_ = task;
  track_ = running_track;
  state_ = State::in_line;
  slots_.line_.push_back(this);
  if (is_the_loops(track_)) return;
  if (slots_.count_ == 1) {
    observer::wait(track_, "queued until the slot is free");
  } else {
    observer::wait(track_, "queued until one of the ", slots_.count_, " slots is free");
  }
}

Slot::~Slot() {
  if (state_ == State::in_line) std::erase(slots_.line_, this);
  if (state_ == State::handed) {
    if (EventLoop* const loop = EventLoop::running()) loop->unschedule(task_);
  }
  if (state_ == State::handed || state_ == State::held) slots_.give_back();
}

Tally::Tally(std::string_view url, long count)
    : url_(without_password(url)), count_(count), on_terminal_(isatty(STDOUT_FILENO) == 1) {}

void Tally::begin(std::string_view mode) {
  mode_ = mode;
  done_ = 0;
  failures_.clear();
  draw();
}

void Tally::add(const Download& download) {
  if (download.failure())
    failures_.push_back(download.name() + " from " + url_ + ": " + *download.failure());
  host_unknown_ = host_unknown_ || download.host_unknown();
  ++done_;
  draw();
}

void Tally::hint_if_offline() const {
  if (!host_unknown_) return;
  std::cerr << "image_downloader: a host name did not resolve; with no internet, "
               "scripts/run.sh 6 runs this lesson against a local image_server\n";
}

long Tally::end() {
  wipe();
  std::sort(failures_.begin(), failures_.end());  // finishing order is anybody's guess
  for (const std::string& failure : failures_) {
    std::cerr << "failed: " << failure << '\n';
  }
  return count_ - static_cast<long>(failures_.size());
}

void Tally::draw() {
  if (!on_terminal_) return;
  std::cout << '\r' << mode_ << ": " << done_ << '/' << count_ << std::flush;
  drawn_ = true;
}

void Tally::wipe() {
  if (drawn_) std::cout << "\r\033[K" << std::flush;
  drawn_ = false;
}

}  // namespace lesson6
