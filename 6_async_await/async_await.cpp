// Lesson 6: async/await. Two tasks take turns on one thread.
//
// Run it:      scripts/run.sh async_await            (Ctrl-C to stop)
//              scripts/run.sh async_await --tick-ms 200 --ticks 10
// Observe:     one task counts 0, 1, 2 ... once a tick; the other says
//              "3 seconds passed." every three ticks. Neither waits for the
//              other: while one sleeps, the loop runs the other.
// Why:         `co_await lesson6::sleep(tick)` suspends the task and hands a
//              timer to the event loop (6_async_await/runtime/event_loop.hpp); when
//              the timer is due, the loop resumes the task where it stopped.
// Since lesson 5: we no longer resume coroutines ourselves. The runtime's
//              event loop does, when what they wait for has happened.
//
// Order at a tick where both print: the number first, then the seconds line.
// Both tasks sleep exactly one tick per turn, and the counting task is started
// first, so its timer is always set first and is due first (timers with the
// same deadline run in the order they were set).
//
// A tick is one second by default; "N seconds passed." counts ticks whatever
// their length.

#include <chrono>
#include <iostream>

#include "6_async_await/runtime/runtime.hpp"
#include "common/command_line.hpp"

namespace {

// ticks == 0: forever.
bool keeps_going(long tick, long ticks) {
  return ticks == 0 || tick < ticks;
}

// Python: async def print_nums(): while True: print(num); num += 1; await asyncio.sleep(1)
lesson6::Task<void> print_numbers(std::chrono::milliseconds tick_length, long ticks) {
  for (long tick = 0; keeps_going(tick, ticks); ++tick) {
    std::cout << tick << std::endl;
    co_await lesson6::sleep(tick_length);
  }
}

// Python: async def print_time(): ... if count % 3 == 0: print(f"{count} seconds have passed")
lesson6::Task<void> print_seconds(std::chrono::milliseconds tick_length, long ticks) {
  for (long tick = 0; keeps_going(tick, ticks); ++tick) {
    if (tick > 0 && tick % 3 == 0) std::cout << tick << " seconds passed." << std::endl;
    co_await lesson6::sleep(tick_length);
  }
}

}  // namespace

int main(int argc, char** argv) {
  long tick_ms = 1000;
  long ticks = 0;
  common::CommandLine command_line("async_await",
                                   "Lesson 6: two tasks interleaved by one event loop.");
  command_line.option("--tick-ms", "length of a tick in milliseconds", tick_ms, 1, 3'600'000);
  command_line.option("--ticks", "stop after this many ticks; 0 runs until Ctrl-C", ticks, 0,
                      1'000'000'000);
  command_line.parse(argc, argv);
  const std::chrono::milliseconds tick_length(tick_ms);
  try {
    // Python: asyncio.run(main()), where main awaits asyncio.gather(task1, task2)
    lesson6::run(
        lesson6::gather(print_numbers(tick_length, ticks), print_seconds(tick_length, ticks)));
  } catch (const lesson6::Stopped&) {
    return 0;  // Ctrl-C: the normal way to end it
  } catch (const std::exception& error) {
    std::cerr << "async_await: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
