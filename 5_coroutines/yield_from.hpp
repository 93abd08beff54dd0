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
// comes out of outer. When inner finishes, `co_await yield_from(...)` evaluates
// to its result, or raises what escaped from it.
//
// yield_from(inner()) and yield_from(std::move(sub)) hand sub to outer, which
// destroys it once it is done with it, or when outer is destroyed first.
// yield_from(sub) lends it: sub stays where it was, as with Python's
// `yield from g` on a generator that its caller also holds. While lent it is
// resumed through outer only, where Python would let its holder resume it
// too; if outer is destroyed first, sub goes back to its holder, suspended
// where it waits. It must outlive the delegation: destroying it while lent
// ends the program, as destroying a joinable std::thread does.
//
// How: the generators form a chain, linked through their promises (Link in
// generator.hpp). Each knows its parent, and the outermost one, the root,
// knows the innermost, the leaf. The consumer resumes the leaf directly, so a
// step costs the same at any depth, and every generator in the chain yields
// into, and takes what was sent or thrown from, the root's promise. Entering
// or leaving a yield_from suspends back to the loop in Generator::resume(),
// which resumes the new leaf: a trampoline. (Returning the next handle from
// await_suspend, symmetric transfer, is a jump only when the compiler makes it
// a tail call; g++ -O0 does not, and a long chain overflows the stack.)
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
  explicit YieldFrom(std::conditional_t<lent, Sub&, Sub&&> sub) : frame_(sub.handle_) {
    if (!frame_) Sub::throw_moved_from();
    if (sub.state() == GeneratorState::running) {
      throw GeneratorError("generator already executing");
    }
    if (frame_.promise().lent) throw GeneratorError("generator is already lent to a yield_from");
    if constexpr (!lent) owned_ = std::move(sub);
  }

  // Python: yield from a finished generator evaluates to its result at once.
  bool await_ready() const noexcept { return frame_.promise().state == GeneratorState::closed; }

  // sub joins the chain, below the generator that delegates to it. An owned
  // sub belongs to the chain while it runs: the root destroys it if it is
  // destroyed first.
  template <typename ParentPromise>
  void await_suspend(std::coroutine_handle<ParentPromise> parent) noexcept {
    owned_.handle_ = nullptr;
    frame_.promise().lent = lent;
    parent.promise().delegate_to(frame_.promise());
  }

  // sub has finished and stands alone again. An owned one is ours again, and
  // goes with this awaiter at the end of the co_await expression.
  Return await_resume() {
    Promise<Yield, Sent, Return>& finished = frame_.promise();
    finished.leave_chain(&finished, GeneratorState::closed);
    if constexpr (!lent) owned_.handle_ = frame_;
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
  std::coroutine_handle<Promise<Yield, Sent, Return>> frame_;  // sub's coroutine
  Sub owned_{nullptr};  // sub, when it is ours and not running in the chain
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
