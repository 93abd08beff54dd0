// Lesson 5: Generator<Yield, Sent, Return>, a C++20 coroutine type that behaves
// like a Python generator (Python: typing.Generator[Yield, Send, Return]).
//
//   Generator<int> count_to(int n) {
//     for (int i = 1; i <= n; ++i) co_yield i;
//   }
//
// What a caller does with one, next to Python:
//   auto g = count_to(3)   g = count_to(3)   make it; none of its body runs yet
//   g.state()              inspect.getgeneratorstate(g)
//   g.next()               next(g)       resume it; returns what the next co_yield hands out
//   g.send(v)              g.send(v)     the same, and the co_yield where it waits evaluates to v
//   g.throw_into(e)        g.throw(e)    raise e at the co_yield where it waits
//   g.close()              g.close()     raise GeneratorExit there; it must not co_yield again
//   g.result()             StopIteration.value: what it handed to co_return
//   prime(g)               the course's @coroutine decorator: run g to its first co_yield
// yield_from.hpp adds delegation, Python's `yield from`.
//
// Inside the coroutine, `co_yield v` evaluates to std::optional<Sent>: the value
// sent, or std::nullopt when it was resumed by next() (Python's None).
//
// C++ has no StopIteration. When the coroutine finishes, Python raises it,
// carrying the return value; here next(), send() and throw_into() return
// std::nullopt instead, and result() holds the value: finishing is a normal
// outcome, not an exception.
//
// GeneratorError reports misuse, in Python's words where Python has them:
// sending a value to a just-started generator, resuming a running one, using a
// moved-from one, yielding again after close(), asking for the result too
// early. Resuming a finished generator is one too (Python raises StopIteration
// again). An exception that escapes the coroutine comes out of the call that
// resumed it, and the generator is closed from then on.
//
// Destroying a Generator destroys its coroutine frame, running the destructors
// of every local alive in it. Unlike Python it does not call close() first: a
// destructor must not throw.
//
// Below: the states and errors, then Generator (what a caller uses), then its
// promise (what the compiler calls), and last the part of the promise that
// yield_from.hpp needs.
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

namespace detail {
template <typename Yield, typename Sent, typename Return>
class Promise;
template <typename Yield, typename Sent, typename Return, bool lent>
class YieldFrom;
}  // namespace detail

template <typename Yield, typename Sent = None, typename Return = void>
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
  // One lent to a yield_from is in the state of the generator it is lent to.
  GeneratorState state() const noexcept {
    return handle_ ? handle_.promise().root->state : GeneratorState::closed;
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
    if (handle_.promise().lent) {
      throw GeneratorError(
          "generator is lent to a yield_from: resume the one that delegates to it");
    }
  }

  // Resumes the coroutine until it yields or finishes. For a generator that
  // delegates to none, leaf is itself and the loop turns once; yield_from.hpp
  // says why it may turn more.
  std::optional<Yield> resume() {
    promise_type& promise = handle_.promise();
    promise.state = GeneratorState::running;
    promise.yielded = nullptr;
    do {
      promise.leaf->frame.resume();
    } while (promise.yielded == nullptr && !handle_.done());
    if (handle_.done()) {
      promise.state = GeneratorState::closed;
      if (promise.escaped) std::rethrow_exception(std::exchange(promise.escaped, nullptr));
      return std::nullopt;
    }
    promise.state = GeneratorState::suspended;
    return std::optional<Yield>(std::in_place, *promise.yielded);
  }

  void destroy() noexcept {
    if (!handle_) return;
    if (handle_.promise().lent) {
      // As for a std::thread still joinable: going on would leave the
      // generator it is lent to resuming a destroyed frame.
      std::fputs("a Generator was destroyed while lent to a yield_from\n", stderr);
      std::terminate();
    }
    handle_.promise().destroy_delegates();
    std::exchange(handle_, nullptr).destroy();
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

namespace detail {

// What the consumer and the coroutine hand each other, and the generator's
// place in a chain of delegations (yield_from.hpp). Generators with different
// Return types can delegate to one another, so this part of the promise does
// not depend on Return.
template <typename Yield, typename Sent>
struct Link {
  std::coroutine_handle<> frame;  // this generator's coroutine
  GeneratorState state = GeneratorState::created;
  const Yield* yielded = nullptr;  // what the co_yield hands out; lives in the coroutine's frame
  std::optional<Sent> sent;        // what the co_yield evaluates to
  std::exception_ptr thrown;       // what it raises instead (throw_into, close)
  std::exception_ptr escaped;      // the exception that ended this coroutine, if one did

  // A generator that delegates to none is a chain of one: root and leaf are
  // itself. In a longer chain, every generator uses the root's state,
  // yielded, sent and thrown above.
  Link* root = this;       // the outermost generator: the one the consumer holds
  Link* leaf = this;       // kept up to date in the root only: the generator the consumer resumes
  Link* parent = nullptr;  // the generator that delegates to this one
  bool lent = false;       // its frame belongs to a Generator held elsewhere, not to the chain

  // What a co_yield evaluates to once resumed.
  std::optional<Sent> take_sent() {
    if (thrown) std::rethrow_exception(std::exchange(thrown, nullptr));
    return std::exchange(sent, std::nullopt);
  }

  // At final suspend, a generator that was delegated to makes its parent the
  // leaf again; the consumer resumes the parent, whose yield_from reads the result.
  void finish() noexcept {
    if (parent != nullptr) root->leaf = parent;
  }

  // Defined at the end of this file, with the chain they maintain.
  void delegate_to(Link& sub) noexcept;
  void leave_chain(Link* innermost, GeneratorState now) noexcept;
  void destroy_delegates() noexcept;
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

  // The only thing a generator may co_await is yield_from(sub) (yield_from.hpp).
  template <typename SubReturn, bool lent>
  YieldFrom<Yield, Sent, SubReturn, lent>&& await_transform(
      YieldFrom<Yield, Sent, SubReturn, lent>&& delegation) const noexcept {
    return std::move(delegation);
  }
};

// ---- The chain that yield_from.hpp builds ----

// `sub`, with whatever it delegates to already, joins this chain below this
// generator and becomes the leaf that the consumer resumes next.
template <typename Yield, typename Sent>
void Link<Yield, Sent>::delegate_to(Link& sub) noexcept {
  for (Link* link = sub.leaf; link != nullptr; link = link->parent)
    link->root = root;
  sub.parent = this;
  root->leaf = std::exchange(sub.leaf, &sub);
}

// The other way: this generator, with `innermost` and the ones between, leaves
// the chain and is a chain of its own again, in state `now`.
template <typename Yield, typename Sent>
void Link<Yield, Sent>::leave_chain(Link* innermost, GeneratorState now) noexcept {
  for (Link* link = innermost; link != this; link = link->parent)
    link->root = this;
  root = this;
  leaf = innermost;
  parent = nullptr;
  lent = false;
  state = now;
}

// Called on a root about to be destroyed: destroys the frames it delegates to,
// innermost first, so that a chain of any depth is destroyed by this loop, not
// by a recursion as deep as the chain. A lent generator is not the chain's to
// destroy: from the highest one down, the chain goes back to its lender.
template <typename Yield, typename Sent>
void Link<Yield, Sent>::destroy_delegates() noexcept {
  Link* highest_lent = nullptr;
  for (Link* link = leaf; link != this; link = link->parent) {
    if (link->lent) highest_lent = link;
  }
  Link* link = leaf;
  if (highest_lent != nullptr) {
    link = highest_lent->parent;
    highest_lent->leave_chain(leaf, GeneratorState::suspended);
  }
  while (link != this) {
    Link* const next = link->parent;
    link->frame.destroy();
    link = next;
  }
  leaf = this;
}

}  // namespace detail

}  // namespace lesson5
