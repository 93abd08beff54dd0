// Lesson 5: delegation, Python's `yield from`, for the Generator of
// generator.hpp.
//
//   Generator<int, None, std::string> inner() { co_yield 1; co_yield 2; co_return "done"; }
//
//   Generator<int> outer() {  // Python: result = yield from inner()
//     const std::string result = co_await yield_from(inner());
//   }
//
// While outer delegates, whoever holds outer talks to inner: next() and send()
// resume inner, throw_into() and close() raise in inner, and what inner yields
// comes out of outer. When inner ends, `co_await yield_from(...)` evaluates to
// its result, or raises what escaped from it.
//
// yield_from(inner()) and yield_from(std::move(sub)) hand sub over: it goes
// when the co_await ends, or with outer. yield_from(sub) lends it: sub stays
// with its holder, as with Python's `yield from g` on a generator its caller
// also holds. While lent it is resumed through outer only (Python would let
// its holder resume it too). If outer goes first, sub goes back to its
// holder, suspended where it waits. It must outlive the delegation:
// destroying it while lent ends the program, as for a joinable std::thread.
//
// How: each generator in the chain knows its parent (Link::parent), and the
// outermost knows the innermost, the leaf, which next() resumes directly, so
// a step costs the same at any depth. Entering or leaving a yield_from
// suspends back to the loop in Generator::resume(), which resumes the new
// leaf: a trampoline, so a chain of any depth uses no more stack. (Returning
// the next handle from await_suspend, symmetric transfer, is a jump only when
// the compiler makes it a tail call; g++ -O0 does not.)
//
// close() during a yield_from raises GeneratorExit in the innermost generator
// only, like throw_into(); Python raises it in each delegator too, so that one
// whose sub-generator caught it and returned stops all the same.
#pragma once

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

#include "5_coroutines/generator.hpp"

namespace lesson5 {

namespace detail {

// The awaiter behind `co_await yield_from(sub)`; `lent` says whether sub stays
// its holder's.
template <typename Yield, typename Sent, typename Return, bool lent>
class [[nodiscard]] YieldFrom {
  using Sub = Generator<Yield, Sent, Return>;

 public:
  explicit YieldFrom(std::conditional_t<lent, Sub&, Sub&&> sub) : sub_(sub.handle_) {
    if (!sub_) Sub::throw_moved_from();
    if (sub.state() == GeneratorState::running) {
      throw GeneratorError("generator already executing");
    }
    if (sub_.promise().parent != nullptr) {
      throw GeneratorError("generator is already lent to a yield_from");
    }
    if constexpr (!lent) owned_ = std::move(sub);
  }
  // The compiler may move the awaiter into the coroutine's frame.
  YieldFrom(YieldFrom&& other) noexcept
      : sub_(std::exchange(other.sub_, nullptr)), owned_(std::move(other.owned_)) {}

  // The delegator's frame is destroyed while sub runs in its place. That
  // delegator is the outermost (an inner one is never destroyed first), so
  // its leaf is the innermost: sub leaves the chain with what it delegates
  // to, suspended where it waits. A lent sub goes back to its holder; an
  // owned one goes with owned_, next.
  ~YieldFrom() {
    if (!sub_ || sub_.promise().parent == nullptr) return;
    Link<Yield, Sent>& link = sub_.promise();
    link.leaf = link.parent->leaf;
    link.parent = nullptr;
    link.state = GeneratorState::suspended;
  }

  // Python: yield from a finished generator evaluates to its result at once.
  bool await_ready() const noexcept { return sub_.promise().state == GeneratorState::closed; }

  // sub joins the chain below the delegator, with what it delegates to
  // already. Its leaf is the delegator's now, which Generator::resume()
  // resumes next.
  template <typename Promise>
  void await_suspend(std::coroutine_handle<Promise> delegator) noexcept {
    Link<Yield, Sent>& link = sub_.promise();
    link.parent = &delegator.promise();
    link.parent->leaf = link.leaf;
  }

  // sub has ended and stands alone again; the delegator is its own leaf.
  Return await_resume() {
    auto& finished = sub_.promise();
    if (finished.parent != nullptr) {
      finished.parent->leaf = finished.parent;
      finished.parent = nullptr;
    }
    finished.state = GeneratorState::closed;
    if (finished.escaped) std::rethrow_exception(std::exchange(finished.escaped, nullptr));
    if constexpr (!std::is_void_v<Return>) {
      if (!finished.value) throw GeneratorError("generator finished without a return value");
      if constexpr (lent) {
        return *finished.value;  // a copy: its holder may read result() too
      } else {
        return std::move(*finished.value);
      }
    }
  }

 private:
  typename Sub::Handle sub_;  // sub's coroutine
  Sub owned_{nullptr};        // sub, when it is ours
};

}  // namespace detail

// Python: yield from sub. Inside a generator with the same Yield and Sent
// types: `auto result = co_await yield_from(sub_generator());`, or
// `co_await yield_from(sub)` to lend it a generator that stays where it is.
template <typename Yield, typename Sent, typename Return>
detail::YieldFrom<Yield, Sent, Return, false> yield_from(Generator<Yield, Sent, Return>&& sub) {
  return detail::YieldFrom<Yield, Sent, Return, false>(std::move(sub));
}
template <typename Yield, typename Sent, typename Return>
detail::YieldFrom<Yield, Sent, Return, true> yield_from(Generator<Yield, Sent, Return>& sub) {
  return detail::YieldFrom<Yield, Sent, Return, true>(sub);
}

}  // namespace lesson5
