// What image_downloader.cpp needs besides its lesson; a first reading may
// skip this file. It reads the flags (and refuses a --url that is not http or
// https), hides a password in a URL, makes the --out folder, names the files,
// saves each image complete or not at all (never through somebody else's
// file or link, never over a file that is there already, never past
// --max-bytes), lets --max-parallel transfers run at once (Slots), keeps the
// tally (a progress line, one line per failure), and tells --trace and
// --timeline which image is which.
#pragma once

#include <curl/curl.h>

#include <coroutine>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "observer/timeline.hpp"

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

// One image on its way to the --out folder. The image `number` of `mode`
// ("sync") is named "sync-01": numbered from 1, as wide as the count needs,
// so that names sort. The constructor creates a hidden file of its own for
// the bytes (".sync-01.4242-1.part"); write_image() renames it to
// "sync-01.bmp" only when the whole transfer succeeded; the destructor
// deletes it otherwise (a failure, an exception, Ctrl-C). The name appears
// with the whole image behind it, never a part of it, and it never replaces a
// file that is there already (another run's, say): the image takes the next
// free name instead, "sync-01-2.bmp".
//
// For --trace and --timeline, an image fetched inside a task is told on its
// task's track; one fetched outside any task (the synchronous way) gets a
// track of its own, "image 7", from its constructor to its destructor.
class Download {
 public:
  Download(const Options& options, std::string_view mode, long number);
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
  observer::Track track_;  // where --trace and --timeline tell it
  bool own_track_;
  curl_off_t max_bytes_;
  curl_off_t written_ = 0;
  std::filesystem::path partial_;  // the hidden file, once created
  common::FileDescriptor file_;
  std::optional<std::string> failure_;
  bool host_unknown_ = false;
  bool saved_ = false;
};

class Slot;

// Python: asyncio.Semaphore(count). At most `count` tasks hold a Slot at
// once (0: any number of them); the others wait in line, drawn "queued" on
// their tracks, and a slot given back goes to the first in line.
class Slots {
 public:
  explicit Slots(long count) : count_(count), free_(count) {}
  Slots(const Slots&) = delete;
  Slots& operator=(const Slots&) = delete;

 private:
  friend class Slot;
  void give_back();

  long count_;  // 0: no limit
  long free_;
  std::deque<Slot*> line_;  // first come, first served
};

// Python: async with semaphore: ... A task's place at Slots, in its frame:
//
//   Slot slot(slots);
//   co_await slot;  // resumes holding a slot, which the destructor gives back
//
// A task destroyed while in line (Ctrl-C) leaves the line; one destroyed
// after it was handed a slot, but before it resumed, gives the slot on.
class Slot {
 public:
  explicit Slot(Slots& slots) : slots_(slots) {}
  ~Slot();
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

  bool await_ready();  // a slot is free: taken at once
  void await_suspend(std::coroutine_handle<> task);
  void await_resume() noexcept { state_ = State::held; }

 private:
  friend class Slots;
  enum class State { outside, in_line, handed, held };

  Slots& slots_;
  State state_ = State::outside;
  std::coroutine_handle<> task_;  // while in line or handed
  observer::Track track_ = observer::Timeline::loop;
};

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
