// What image_downloader.cpp needs besides its lesson; a first reading may
// skip this file. It reads the flags (and refuses a --url that is not http or
// https), hides a password in a URL, makes the --out folder, names the files,
// saves each image complete or not at all (never through somebody else's
// file or link, never over a file that is there already, never past
// --max-bytes), caps how many transfers run at once (--max-parallel), and
// keeps the tally: a progress line, one line per failure.
#pragma once

#include <curl/curl.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "6_async_await/runtime/task.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"

namespace lesson6 {

struct Options {
  std::string url = "https://loremflickr.com/320/240";  // the course's
  long count = 20;
  std::string out = "images";
  std::string mode = "both";
  long max_parallel = 0;        // 0: every image at once
  long timeout_ms = 30'000;     // 0: never give up
  long max_bytes = 50'000'000;  // far more than any picture of 320 x 240 needs
};

// The flags image_downloader was given. --help prints the usage and exits 0;
// a bad flag, or a --url that is not http(s), ends the program with one line
// and exit code 2, as the contract says. Call it after curl_global_init.
Options read_options(int argc, char** argv);

// The URL fit to print: "http://me:secret@host/" gives "http://me:***@host/".
std::string without_password(std::string_view url);

// Creates the --out folder if it is missing. Throws std::runtime_error with
// one line that says why when it cannot be a folder (a file has its name, a
// link leads nowhere) or cannot be created.
void make_folder(const std::string& out);

// With --timeline: a track for each image, "queued" until its task starts
// (at once, or once --max-parallel lets it).
void trace_queued(long count);

// "sync-01": numbered from 1, as wide as the count needs, so that names sort.
std::string image_name(std::string_view mode, long number, long count);

// One image on its way to the --out folder. The constructor creates a hidden
// file of its own for the bytes (".sync-01.4242-1.part"); write_image()
// renames it to "sync-01.bmp" only when the whole transfer succeeded; the
// destructor deletes it otherwise (a failure, an exception, Ctrl-C). The
// name appears with the whole image behind it, never a part of it, and it
// never replaces a file that is there already (another run's, say): the
// image takes the next free name instead, "sync-01-2.bmp".
class Download {
 public:
  Download(const Options& options, std::string name);
  ~Download();
  Download(const Download&) = delete;
  Download& operator=(const Download&) = delete;

  // false when the file could not be created: the image has failed already
  // (failure() says why), and there is no point in downloading it.
  bool has_file() const { return file_.get() >= 0; }

  // libcurl's write callback (CURLOPT_WRITEFUNCTION), with the Download as
  // its CURLOPT_WRITEDATA: appends a piece of the body to the file, or stops
  // the transfer when the body passes --max-bytes or the file cannot grow.
  static std::size_t append(char* data, std::size_t size, std::size_t count, void* self);

  // The course's write_image(): libcurl's verdict on the transfer in, the
  // file takes its name if it is good (a 2xx status; the extension comes from
  // its Content-Type), else failure() says why.
  void write_image(CURL* easy, CURLcode result);

  const std::string& name() const { return name_; }
  const std::optional<std::string>& failure() const { return failure_; }
  // Whether it failed because a host name did not resolve (offline, perhaps).
  bool host_unknown() const { return host_unknown_; }

 private:
  std::string too_big() const;

  std::string name_;
  curl_off_t max_bytes_;
  curl_off_t written_ = 0;
  std::filesystem::path partial_;  // the hidden file, once created
  common::FileDescriptor file_;
  std::optional<std::string> failure_;
  bool host_unknown_ = false;
  bool saved_ = false;
};

// asyncio.gather over job(1) ... job(count), with at most `at_once` jobs
// running at a time (0: all of them). That many workers each take the next
// number, wait for its job to finish, and take another.
Task<void> gather_numbered(long count, long at_once, std::function<Task<void>(long)> job);

// Counts the images of one way after another: "async: 7/20" redrawn in place
// for a person watching a terminal (output to a pipe or a file gets none of
// it), and the failures, printed when the way ends with its time.
class Tally {
 public:
  Tally(std::string_view url, long count);
  ~Tally() { wipe(); }
  Tally(const Tally&) = delete;
  Tally& operator=(const Tally&) = delete;

  void begin(std::string_view mode);
  void add(const Download& download);  // one image done, saved or failed
  // Prints this way's failures on standard error, one line each, and returns
  // how many images arrived.
  long end();

  // After both ways: if a host name did not resolve (offline, perhaps), says
  // how to run the lesson without the internet.
  void hint_if_offline() const;

 private:
  void draw();
  void wipe();

  std::string url_;  // without its password
  long count_;
  bool on_terminal_;
  std::string mode_;
  long done_ = 0;
  bool drawn_ = false;
  std::vector<std::string> failures_;
  bool host_unknown_ = false;
};

}  // namespace lesson6
