// Lesson 5: Python's g.throw() and g.close() for the Generator of
// generator.hpp, which declares them as throw_into() and close().
//
//   g.throw_into(e)   g.throw(e)   raise e at the co_yield where g waits
//   g.close()         g.close()    raise GeneratorExit there; g must not co_yield again
#pragma once

#include <exception>
#include <optional>
#include <utility>

#include "5_coroutines/generator.hpp"

namespace lesson5 {

// What close() raises at the co_yield where the generator waits. Like Python's
// GeneratorExit it is no ordinary exception: it derives from nothing, so a
// `catch (const std::exception&)` in the coroutine lets it pass.
struct GeneratorExit {};

// Python: g.throw(exception). The co_yield where the body waits raises it
// (YieldAwaiter::await_resume); if the body does not catch it, it comes back
// out of this call, and the generator is closed. A generator that has not
// started never runs: it is closed and the exception comes straight back, as
// in Python.
template <typename Yield, typename Sent, typename Return>
std::optional<Yield> Generator<Yield, Sent, Return>::throw_into(std::exception_ptr exception) {
  check_can_resume();
  if (state() == GeneratorState::created) {
    handle_.promise().state = GeneratorState::closed;
    std::rethrow_exception(exception);
  }
  handle_.promise().leaf->thrown = std::move(exception);
  return resume();
}

template <typename Yield, typename Sent, typename Return>
template <typename Exception>
std::optional<Yield> Generator<Yield, Sent, Return>::throw_into(Exception exception) {
  return throw_into(std::make_exception_ptr(std::move(exception)));
}

// Python: g.close(). Returning, or letting GeneratorExit out, is how a
// generator agrees to stop; yielding again is an error. Any other exception
// it raises comes out of close().
template <typename Yield, typename Sent, typename Return>
void Generator<Yield, Sent, Return>::close() {
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

}  // namespace lesson5
