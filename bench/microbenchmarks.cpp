// Microbenchmarks for scripts/bench.sh: what one step of each mechanism the
// lessons build costs, measured with Google Benchmark.
//
// Run it:   build/bin/microbenchmarks
//           build/bin/microbenchmarks --benchmark_filter=Selector
// Observe:  a Generator step is a few nanoseconds (a Python generator's send
//           is about 50 ns); a step through a 100-deep yield_from chain costs
//           the same, because the consumer resumes the innermost generator
//           directly; a Task switch through the event loop is one loop turn
//           (an asyncio switch through sleep(0) is about 3 µs); and with
//           10,000 idle descriptors and one ready one, epoll answers in the
//           time of one ready event while poll scans all 10,001. A narration
//           point (a trace call) costs well under a nanosecond while
//           --trace and --timeline are off.

#include <benchmark/benchmark.h>
#include <sys/eventfd.h>

#include <chrono>
#include <vector>

#include "3_async_with_callbacks/selector.hpp"
#include "5_coroutines/generator.hpp"
#include "5_coroutines/yield_from.hpp"
#include "6_async_await/runtime/runtime.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "observer/observer.hpp"

namespace {

using lesson5::Generator;
using lesson5::yield_from;

// ---- Lesson 5: generators ----

// Unsigned, so that counting past the largest value wraps instead of being
// undefined behaviour.
Generator<unsigned> count_up() {
  for (unsigned i = 0;; ++i)
    co_yield i;
}

void generator_next(benchmark::State& state) {
  Generator<unsigned> numbers = count_up();
  for (auto _ : state)
    benchmark::DoNotOptimize(numbers.next());
}

// The course's averager (x = yield average), trimmed down to a running total.
Generator<long, long> running_total() {
  long total = 0;
  while (true)
    total += (co_yield total).value_or(0);
}

void generator_send(benchmark::State& state) {
  Generator<long, long> total = lesson5::prime(running_total());
  for (auto _ : state)
    benchmark::DoNotOptimize(total.send(1));
}

// A chain of `depth` generators: each delegates to the next with yield_from,
// and count_up() at the end does the counting.
Generator<unsigned> delegate(int depth) {
  if (depth == 2) {
    co_await yield_from(count_up());
  } else {
    co_await yield_from(delegate(depth - 1));
  }
}

void delegation_chain_step(benchmark::State& state) {
  Generator<unsigned> outermost = lesson5::prime(delegate(100));  // the chain is built
  for (auto _ : state)
    benchmark::DoNotOptimize(outermost.next());
}

// ---- Lesson 6: the event loop ----

// Each step suspends in sleep(0), which puts the task at the back of the
// loop's queue, and the next loop turn resumes it. `state` outlives the task:
// run() returns only when the task has finished.
lesson6::Task<void> switch_through_loop(benchmark::State& state) {
  for (auto _ : state)
    co_await lesson6::sleep(std::chrono::milliseconds(0));
}

void task_switch(benchmark::State& state) {
  lesson6::run(switch_through_loop(state));
}

// One timer set to fire at once, and the loop turn that fires it.
void timer_schedule_and_fire(benchmark::State& state) {
  lesson6::EventLoop loop;
  long fired = 0;
  for (auto _ : state) {
    loop.call_later(std::chrono::milliseconds(0), [&fired] { ++fired; });
    loop.run_once();
  }
  if (fired != static_cast<long>(state.iterations())) state.SkipWithError("a timer did not fire");
}

// ---- Lesson 3: the Selector ----

constexpr int idle_descriptors = 10'000;

// An eventfd is one descriptor that is readable once its counter is not zero:
// the cheapest thing to register by the ten thousand.
void selector_wait(benchmark::State& state, lesson3::Backend backend) {
  const std::unique_ptr<lesson3::Selector> selector = lesson3::make_selector(backend);
  std::vector<common::FileDescriptor> descriptors;
  for (int i = 0; i <= idle_descriptors; ++i) {
    const unsigned initial = i == idle_descriptors ? 1 : 0;  // the last one is ready
    descriptors.emplace_back(eventfd(initial, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!descriptors.back()) {
      state.SkipWithError("eventfd failed: is the descriptor limit (ulimit -n) below 10,100?");
      return;
    }
    selector->register_fd(descriptors.back().get(), lesson3::event_read, [](lesson3::EventMask) {});
  }
  for (auto _ : state) {
    if (selector->select(std::chrono::milliseconds(0)).size() != 1) {
      state.SkipWithError("expected exactly one ready descriptor");
      break;
    }
  }
  for (const common::FileDescriptor& descriptor : descriptors)
    selector->unregister(descriptor.get());
}

// ---- Every lesson: a narration point while --trace and --timeline are off ----

// What each narration point costs a server run without either flag: the
// test of one flag. ClobberMemory() keeps the compiler from testing it once
// for the whole loop, as it could here but not in a server.
void narration_off(benchmark::State& state) {
  const int fd = 8;
  for (auto _ : state) {
    benchmark::ClobberMemory();
    observer::read(fd, "received ", 64, " bytes");
  }
}

}  // namespace

int main(int argc, char** argv) {
  common::raise_descriptor_limit();  // the Selector benchmark holds 10,000 descriptors
  benchmark::RegisterBenchmark("Generator next()", generator_next);
  benchmark::RegisterBenchmark("Generator send()", generator_send);
  benchmark::RegisterBenchmark("Generator next() through a 100-deep yield_from chain",
                               delegation_chain_step);
  benchmark::RegisterBenchmark("Task switch through the event loop (sleep(0))", task_switch);
  benchmark::RegisterBenchmark("Timer: call_later(0) and the loop turn that fires it",
                               timer_schedule_and_fire);
  benchmark::RegisterBenchmark("Selector select() with 10000 idle descriptors and 1 ready (epoll)",
                               selector_wait, lesson3::Backend::epoll);
  benchmark::RegisterBenchmark("Selector select() with 10000 idle descriptors and 1 ready (poll)",
                               selector_wait, lesson3::Backend::poll);
  benchmark::RegisterBenchmark("A narration point with --trace and --timeline off", narration_off);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
