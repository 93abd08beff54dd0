// Lesson 5: Generator<Yield, Sent, Return>, a C++20 coroutine type that behaves
// like a Python generator (Python: typing.Generator[Yield, Send, Return]).
//
//   Generator<int> count_to(int n) {
//     for (int i = 1; i <= n; ++i) co_yield i;
//   }
//
//   auto g = count_to(3)   g = count_to(3)                 runs none of its body yet
//   g.next()               next(g)                         runs it to a co_yield: 1
//   g.send(v)              g.send(v)                       the same; that co_yield gives v
//   g.state()              inspect.getgeneratorstate(g)    GEN_SUSPENDED
//   g.result()             StopIteration.value             what it handed to co_return
//
// This is the core. throw_and_close.hpp adds throw_into() and close(), and
// yield_from.hpp adds delegation, Python's `yield from`.
#pragma once

#include <coroutine>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace lesson5 {

// Python's None: the Yield or Sent type of a generator that hands out or takes
// nothing, as in `message = yield` (Generator<None, std::string>).
using None = std::monostate;

// Python: inspect.getgeneratorstate(g)
enum class GeneratorState { created, running, suspended, closed };

constexpr std::string_view to_string(GeneratorState state) {
  constexpr std::string_view names[] = {"GEN_CREATED", "GEN_RUNNING", "GEN_SUSPENDED",
                                        "GEN_CLOSED"};
  return names[static_cast<int>(state)];
}

inline std::ostream& operator<<(std::ostream& out, GeneratorState state) {
  return out << to_string(state);
}

// Using a generator the wrong way; what() says how, in Python's words where
// Python has them.
class GeneratorError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {

// A generator's coroutine, and its place in the list of frames that wait to
// be destroyed (destroy_frame(), at the end of this file).
struct Frame {
  std::coroutine_handle<> handle;
  Frame* next_to_destroy = nullptr;
};
inline void destroy_frame(Frame& frame) noexcept;

// The promise's part that does not depend on Return: what the caller and the
// body hand each other. Generators with different Return types can delegate
// to one another (yield_from.hpp), and the chain links them through this.
template <typename Yield, typename Sent>
struct Link : Frame {
  GeneratorState state = GeneratorState::created;
  const Yield* yielded = nullptr;  // what co_yield hands out; lives in the body's frame
  std::optional<Sent> sent;        // what that co_yield evaluates to once resumed
  std::exception_ptr thrown;       // what it raises instead (throw_and_close.hpp)
  std::exception_ptr escaped;      // what escaped from the body and ended it
  // yield_from.hpp: the generator that delegates to this one, and the one to
  // resume, innermost in the chain. A generator alone: nobody, and itself.
  Link* parent = nullptr;
  Link* leaf = this;
};

// co_yield value suspends the body, and once resumed evaluates to what was
// sent (std::nullopt after next(): Python's None), or raises what was thrown.
template <typename Yield, typename Sent>
struct YieldAwaiter {
  Link<Yield, Sent>& link;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  std::optional<Sent> await_resume() const {
    if (link.thrown) std::rethrow_exception(std::exchange(link.thrown, nullptr));
    return std::exchange(link.sent, std::nullopt);
  }
};

// What co_return hands over, kept for result(). A promise has return_value or
// return_void, never both: hence one base of each kind.
template <typename Return>
struct ReturnSlot {
  std::optional<Return> value;
  void return_value(Return returned) { value.emplace(std::move(returned)); }
};

template <>
struct ReturnSlot<void> {
  void return_void() const noexcept {}
};

template <typename Yield, typename Sent, typename Return, bool lent>
class YieldFrom;  // yield_from.hpp

}  // namespace detail

template <typename Yield, typename Sent = None, typename Return = void>
class [[nodiscard]] Generator {
  static_assert(std::is_object_v<Yield> && !std::is_array_v<Yield>,
                "a generator yields values: use None for nothing");
  using Link = detail::Link<Yield, Sent>;

 public:
  // What the compiler calls, at fixed places in the body of a coroutine that
  // returns a Generator.
  struct promise_type : Link, detail::ReturnSlot<Return> {
    Generator get_return_object() noexcept {
      this->handle = Handle::from_promise(*this);
      return Generator(Handle::from_promise(*this));
    }

    // Lazy start: the body runs on the first next(), as in Python.
    std::suspend_always initial_suspend() const noexcept { return {}; }
    // The frame stays once the body ends, for state() and result().
    std::suspend_always final_suspend() const noexcept { return {}; }

    detail::YieldAwaiter<Yield, Sent> yield_value(const Yield& value) noexcept {
      // A temporary yielded lives until the co_yield ends, after next() copied it.
      this->yielded = std::addressof(value);
      return {*this};
    }
    // return_value(value) or return_void(): ReturnSlot.

    void unhandled_exception() noexcept { this->escaped = std::current_exception(); }

    // A generator co_awaits nothing but yield_from(sub) (yield_from.hpp).
    template <typename SubReturn, bool lent>
    detail::YieldFrom<Yield, Sent, SubReturn, lent>&& await_transform(
        detail::YieldFrom<Yield, Sent, SubReturn, lent>&& delegation) const noexcept {
      return std::move(delegation);
    }
  };

  // Move-only, as it owns the frame, which it destroys with every local alive
  // in it. (Python would close() it first; a destructor must not throw.)
  Generator(Generator&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Generator& operator=(Generator&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  ~Generator() { destroy(); }

  // A moved-from generator is GEN_CLOSED: there is nothing left to run. One
  // lent to a yield_from is in the state of the chain it is lent to.
  GeneratorState state() const noexcept {
    if (!handle_) return GeneratorState::closed;
    const Link* outermost = &handle_.promise();
    while (outermost->parent != nullptr)
      outermost = outermost->parent;
    return outermost->state;
  }

  // Python: next(g). Runs the body to its next co_yield and returns what it
  // hands out, or std::nullopt once the body has ended. Python raises
  // StopIteration there; C++ has none, and finishing is no error.
  std::optional<Yield> next() {
    check_can_resume();
    return resume();
  }

  // Python: g.send(value). The same, and the co_yield where the body waits
  // evaluates to value.
  std::optional<Yield> send(Sent value) {
    check_can_resume();
    if (state() == GeneratorState::created) {
      throw GeneratorError("can't send non-None value to a just-started generator");
    }
    handle_.promise().leaf->sent.emplace(std::move(value));
    return resume();
  }

  // Python: g.throw(exception) and g.close(), in throw_and_close.hpp.
  std::optional<Yield> throw_into(std::exception_ptr exception);
  template <typename Exception>
  std::optional<Yield> throw_into(Exception exception);
  void close();

  // Python: the value of the StopIteration that ended the generator.
  const auto& result() const requires(!std::is_void_v<Return>) {
    if (!handle_) throw_moved_from();
    if (state() != GeneratorState::closed) throw GeneratorError("generator has not finished yet");
    if (!handle_.promise().value) throw GeneratorError("generator finished without a return value");
    return *handle_.promise().value;
  }

 private:
  template <typename, typename, typename, bool>
  friend class detail::YieldFrom;
  using Handle = std::coroutine_handle<promise_type>;

  explicit Generator(Handle handle) noexcept : handle_(handle) {}

  [[noreturn]] static void throw_moved_from() {
    throw GeneratorError("generator was moved from: it has no coroutine");
  }

  void check_can_resume() const {
    if (!handle_) throw_moved_from();
    if (state() == GeneratorState::running) throw GeneratorError("generator already executing");
    if (state() == GeneratorState::closed) throw GeneratorError("generator is closed");
    if (handle_.promise().parent != nullptr) {
      throw GeneratorError(
          "generator is lent to a yield_from: resume the one that delegates to it");
    }
  }

  // Resumes the body until it yields or ends. An exception that escaped from
  // it comes out here, and the generator is closed.
  std::optional<Yield> resume() {
    promise_type& promise = handle_.promise();
    promise.state = GeneratorState::running;
    while (true) {
      Link& resumed = *promise.leaf;
      resumed.yielded = nullptr;
      resumed.handle.resume();
      if (resumed.yielded != nullptr || handle_.done()) break;
      // It entered a yield_from, which left the new leaf in it; or, a
      // delegate, it ended, and its parent reads the result (yield_from.hpp).
      promise.leaf = resumed.handle.done() ? resumed.parent : resumed.leaf;
    }
    if (handle_.done()) {
      promise.state = GeneratorState::closed;
      if (promise.escaped) std::rethrow_exception(std::exchange(promise.escaped, nullptr));
      return std::nullopt;
    }
    promise.state = GeneratorState::suspended;
    return std::optional<Yield>(std::in_place, *promise.leaf->yielded);
  }

  void destroy() noexcept {
    if (!handle_) return;
    if (handle_.promise().parent != nullptr) {
      // As for a std::thread still joinable: going on would leave the
      // generator it is lent to resuming a destroyed frame.
      std::fputs("a Generator was destroyed while lent to a yield_from\n", stderr);
      std::terminate();
    }
    detail::destroy_frame(std::exchange(handle_, nullptr).promise());
  }

  Handle handle_;
};

// The course's @coroutine decorator: runs a new generator up to its first
// co_yield, so that it is ready to receive send().
template <typename Yield, typename Sent, typename Return>
[[nodiscard]] Generator<Yield, Sent, Return> prime(Generator<Yield, Sent, Return> generator) {
  generator.next();
  return generator;
}

// Destroying a frame destroys the locals alive in it; a Generator among them
// destroys its own frame, and so on. A chain of yield_from 100,000 deep would
// nest as many calls and overflow the stack. So, as Python's "trashcan" does,
// a frame whose destruction would nest deeper than 50 waits in a list, and the
// outermost destruction destroys what waits there, each frame once.
inline void detail::destroy_frame(Frame& frame) noexcept {
  static thread_local int nested = 0;
  static thread_local Frame* waiting = nullptr;
  if (nested == 50) {
    frame.next_to_destroy = std::exchange(waiting, &frame);
    return;
  }
  ++nested;
  frame.handle.destroy();
  while (nested == 1 && waiting != nullptr)
    std::exchange(waiting, waiting->next_to_destroy)->handle.destroy();
  --nested;
}

}  // namespace lesson5

// throw_into() and close() are defined there, to be read after this file.
#include "5_coroutines/throw_and_close.hpp"
