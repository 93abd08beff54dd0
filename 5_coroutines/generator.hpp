// Lesson 5: Generator<Yield, Sent, Return>, a C++20 coroutine type that behaves
// like a Python generator (Python: typing.Generator[Yield, Send, Return]).
//
//   Generator<int> count_to(int n) {
//     for (int i = 1; i <= n; ++i) co_yield i;
//   }
//
// What a caller does with one, next to Python:
//   g.next()             next(g)       resume it; returns what the next co_yield hands out
//   g.send(v)            g.send(v)     the same, and the co_yield where it waits evaluates to v
//   g.throw_into(e)      g.throw(e)    raise e at the co_yield where it waits
//   g.close()            g.close()     raise GeneratorExit there; it must not co_yield again
//   g.state()            inspect.getgeneratorstate(g)
//   g.result()           StopIteration.value: what it handed to co_return
//   prime(g)             the course's @coroutine decorator: run g to its first co_yield
//   co_await yield_from(sub)           yield from sub: evaluates to sub's co_return value
//
// Inside the coroutine, `co_yield v` evaluates to std::optional<Sent>: the value
// sent, or std::nullopt when it was resumed by next() (Python's None).
//
// When the coroutine finishes, Python raises StopIteration carrying the return
// value. Here next(), send() and throw_into() return std::nullopt instead, and
// result() holds the value: finishing is a normal outcome, not an exception.
//
// GeneratorError reports misuse, in Python's words where Python has them:
// sending a value to a just-started generator, resuming a closed or a running
// one, using a moved-from one, yielding again after close(), asking for the
// result too early. An exception that escapes the coroutine comes out of the
// call that resumed it, and the generator is closed from then on.
//
// Destroying a Generator destroys its coroutine frame, and the frames it
// delegates to, running the destructors of every local alive in them. Unlike
// Python it does not call close() first: a destructor must not throw.
//
// close() during a yield_from raises GeneratorExit in the innermost generator
// only, like throw_into(); Python raises it in each delegator too, so that one
// whose sub-generator caught it and returned stops all the same.
#pragma once

#include <coroutine>
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
  switch (state) {
    case GeneratorState::created:
      return "GEN_CREATED";
    case GeneratorState::running:
      return "GEN_RUNNING";
    case GeneratorState::suspended:
      return "GEN_SUSPENDED";
    case GeneratorState::closed:
      return "GEN_CLOSED";
  }
  return "GEN_UNKNOWN";
}

inline std::ostream& operator<<(std::ostream& out, GeneratorState state) {
  return out << to_string(state);
}

// Using a generator the wrong way; what() says how, as Python would.
class GeneratorError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// What close() raises at the co_yield where the generator waits. Like Python's
// GeneratorExit it is no ordinary exception: it derives from nothing, so a
// `catch (const std::exception&)` in the coroutine lets it pass.
struct GeneratorExit {};

template <typename Yield, typename Sent = None, typename Return = void>
class Generator;

namespace detail {

// One generator's place in a delegation chain (yield from), and what the
// consumer and the innermost generator hand each other. Generators with
// different Return types can delegate to one another, so this part of the
// promise does not depend on Return.
template <typename Yield, typename Sent>
struct Link {
  std::coroutine_handle<> frame;  // this generator's coroutine
  Link* root = this;              // the outermost generator: the one the consumer holds
  Link* parent = nullptr;         // the generator that delegates to this one

  // Used in the root only.
  Link* leaf = this;  // the innermost generator: the consumer resumes it directly
  GeneratorState state = GeneratorState::created;
  const Yield* yielded = nullptr;  // what the leaf's co_yield hands out; lives in its frame
  std::optional<Sent> sent;        // what the leaf's co_yield evaluates to
  std::exception_ptr thrown;       // what it raises instead (throw_into, close)

  std::exception_ptr escaped;  // the exception that ended this coroutine, if one did

  // What a co_yield evaluates to once resumed.
  std::optional<Sent> take_sent() {
    if (thrown) std::rethrow_exception(std::exchange(thrown, nullptr));
    return std::exchange(sent, std::nullopt);
  }

  // yield from: `sub`, with whatever it delegates to already, joins this chain
  // below this generator and becomes the leaf that the consumer resumes next.
  void delegate_to(Link& sub) noexcept {
    for (Link* link = sub.leaf; link != nullptr; link = link->parent)
      link->root = root;
    sub.parent = this;
    root->leaf = std::exchange(sub.leaf, &sub);  // only the root's leaf is kept up to date
  }

  // At final suspend, a sub-generator makes its parent the leaf again; the
  // consumer resumes the parent, whose yield_from() then reads the result.
  void finish() noexcept {
    if (parent != nullptr) root->leaf = parent;
  }
};

// co_yield value: hand out the value's address, suspend, and on resumption
// evaluate to what was sent (or raise what was thrown in).
template <typename Yield, typename Sent>
struct YieldAwaiter {
  Link<Yield, Sent>& link;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  // Read root at resumption: a primed generator may have joined a chain since.
  std::optional<Sent> await_resume() const { return link.root->take_sent(); }
};

struct FinalAwaiter {
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  void await_suspend(std::coroutine_handle<Promise> finished) const noexcept {
    finished.promise().finish();
  }
  void await_resume() const noexcept {}
};

// A coroutine has either return_value or return_void, never both.
template <typename Return>
struct ReturnSlot {
  std::optional<Return> value;
  void return_value(Return returned) { value.emplace(std::move(returned)); }
};

template <>
struct ReturnSlot<void> {
  void return_void() const noexcept {}
};

template <typename Yield, typename Sent, typename Return>
class YieldFrom;

template <typename Yield, typename Sent, typename Return>
class Promise : public Link<Yield, Sent>, public ReturnSlot<Return> {
 public:
  Generator<Yield, Sent, Return> get_return_object() noexcept {
    const auto handle = std::coroutine_handle<Promise>::from_promise(*this);
    this->frame = handle;
    return Generator<Yield, Sent, Return>(handle);
  }

  // Lazy start: the body runs on the first resumption, as in Python.
  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }

  YieldAwaiter<Yield, Sent> yield_value(const Yield& value) noexcept {
    // A temporary being yielded lives until the co_yield expression ends,
    // which is after the consumer has copied it.
    this->root->yielded = std::addressof(value);
    return {*this};
  }
  // return_value or return_void: see ReturnSlot.

  void unhandled_exception() noexcept { this->escaped = std::current_exception(); }

  // The only thing a generator may co_await is yield_from(sub).
  template <typename SubReturn>
  YieldFrom<Yield, Sent, SubReturn>&& await_transform(
      YieldFrom<Yield, Sent, SubReturn>&& delegation) const noexcept {
    return std::move(delegation);
  }
};

}  // namespace detail

template <typename Yield, typename Sent, typename Return>
class [[nodiscard]] Generator {
  static_assert(std::is_object_v<Yield> && !std::is_array_v<Yield>,
                "a generator yields values: use None for nothing");

 public:
  using promise_type = detail::Promise<Yield, Sent, Return>;

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

  // A moved-from generator reports GEN_CLOSED: there is nothing left to run.
  GeneratorState state() const noexcept {
    return handle_ ? handle_.promise().state : GeneratorState::closed;
  }

  // Python: next(g)
  std::optional<Yield> next() {
    check_can_resume();
    return resume();
  }

  // Python: g.send(value)
  std::optional<Yield> send(Sent value) {
    check_can_resume();
    if (state() == GeneratorState::created) {
      throw GeneratorError("can't send non-None value to a just-started generator");
    }
    handle_.promise().sent.emplace(std::move(value));
    return resume();
  }

  // Python: g.throw(exception). A generator that has not started yet never
  // runs: it is closed and the exception comes straight back, as in Python.
  std::optional<Yield> throw_into(std::exception_ptr exception) {
    check_can_resume();
    if (state() == GeneratorState::created) {
      handle_.promise().state = GeneratorState::closed;
      std::rethrow_exception(exception);
    }
    handle_.promise().thrown = std::move(exception);
    return resume();
  }
  template <typename Exception>
  std::optional<Yield> throw_into(Exception exception) {
    return throw_into(std::make_exception_ptr(std::move(exception)));
  }

  // Python: g.close(). Returning, or letting GeneratorExit out, is how a
  // generator agrees to stop; yielding again is an error. Any other exception
  // it raises comes out of close().
  void close() {
    if (!handle_) throw_moved_from();
    switch (state()) {
      case GeneratorState::created:
        handle_.promise().state = GeneratorState::closed;
        return;
      case GeneratorState::closed:
        return;
      case GeneratorState::running:
      case GeneratorState::suspended:
        break;
    }
    try {
      if (throw_into(GeneratorExit{})) throw GeneratorError("generator ignored GeneratorExit");
    } catch (const GeneratorExit&) {
      // The generator let GeneratorExit out: it is closed, as asked.
    }
  }

  // Python: the value of the StopIteration that ended the generator.
  const auto& result() const requires(!std::is_void_v<Return>) {
    if (!handle_) throw_moved_from();
    if (state() != GeneratorState::closed) throw GeneratorError("generator has not finished yet");
    if (!handle_.promise().value) throw GeneratorError("generator finished without a return value");
    return *handle_.promise().value;
  }

 private:
  friend promise_type;
  friend class detail::YieldFrom<Yield, Sent, Return>;
  using Handle = std::coroutine_handle<promise_type>;

  explicit Generator(Handle handle) noexcept : handle_(handle) {}

  [[noreturn]] static void throw_moved_from() {
    throw GeneratorError("generator was moved from: it has no coroutine");
  }

  void check_can_resume() const {
    if (!handle_) throw_moved_from();
    if (state() == GeneratorState::running) throw GeneratorError("generator already executing");
    if (state() == GeneratorState::closed) throw GeneratorError("generator is closed");
  }

  // Runs the chain until its innermost generator yields or the outermost one
  // finishes. Entering or leaving a yield_from() suspends back to this loop,
  // which resumes the new leaf: a trampoline. (Returning the next handle from
  // await_suspend, symmetric transfer, is a jump only when the compiler makes
  // it a tail call; g++ -O0 does not, and a long chain overflows the stack.)
  std::optional<Yield> resume() {
    promise_type& root = handle_.promise();
    root.state = GeneratorState::running;
    root.yielded = nullptr;
    do {
      root.leaf->frame.resume();
    } while (root.yielded == nullptr && !handle_.done());
    if (handle_.done()) {
      root.state = GeneratorState::closed;
      if (root.escaped) std::rethrow_exception(std::exchange(root.escaped, nullptr));
      return std::nullopt;
    }
    root.state = GeneratorState::suspended;
    return std::optional<Yield>(std::in_place, *root.yielded);
  }

  // Innermost frame first: a chain of any depth is destroyed by this loop,
  // not by a recursion as deep as the chain.
  void destroy() noexcept {
    if (!handle_) return;
    detail::Link<Yield, Sent>* link = handle_.promise().leaf;
    while (link != &handle_.promise()) {
      detail::Link<Yield, Sent>* parent = link->parent;
      link->frame.destroy();
      link = parent;
    }
    std::exchange(handle_, nullptr).destroy();
  }

  Handle handle_;
};

namespace detail {

// The awaiter behind `co_await yield_from(sub)`. While `sub` runs, its frame
// belongs to the chain (the root destroys it if it is destroyed first); once
// `sub` finishes, this awaiter takes it back, hands out its result and
// destroys it at the end of the co_await expression.
template <typename Yield, typename Sent, typename Return>
class [[nodiscard]] YieldFrom {
 public:
  explicit YieldFrom(Generator<Yield, Sent, Return> sub) : sub_(std::move(sub)) {
    if (!sub_.handle_) sub_.throw_moved_from();
  }

  // Python: yield from a finished generator evaluates to its result at once.
  bool await_ready() const noexcept { return sub_.state() == GeneratorState::closed; }

  template <typename ParentPromise>
  void await_suspend(std::coroutine_handle<ParentPromise> parent) noexcept {
    running_ = std::exchange(sub_.handle_, nullptr);
    parent.promise().delegate_to(running_.promise());
  }

  Return await_resume() {
    if (running_) sub_.handle_ = std::exchange(running_, nullptr);
    Promise<Yield, Sent, Return>& finished = sub_.handle_.promise();
    if (finished.escaped) std::rethrow_exception(std::exchange(finished.escaped, nullptr));
    if constexpr (!std::is_void_v<Return>) {
      if (!finished.value) throw GeneratorError("generator finished without a return value");
      return std::move(*finished.value);
    }
  }

 private:
  Generator<Yield, Sent, Return> sub_;
  std::coroutine_handle<Promise<Yield, Sent, Return>> running_;
};

}  // namespace detail

// Python: yield from sub. Usage, inside a generator with the same Yield and
// Sent types: `auto result = co_await yield_from(sub_generator());`
template <typename Yield, typename Sent, typename Return>
detail::YieldFrom<Yield, Sent, Return> yield_from(Generator<Yield, Sent, Return> sub) {
  return detail::YieldFrom<Yield, Sent, Return>(std::move(sub));
}

// The course's @coroutine decorator: runs a new generator up to its first
// co_yield, so that it is ready to receive send().
template <typename Yield, typename Sent, typename Return>
[[nodiscard]] Generator<Yield, Sent, Return> prime(Generator<Yield, Sent, Return> generator) {
  generator.next();
  return generator;
}

}  // namespace lesson5
