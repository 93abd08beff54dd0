// Lesson 6: async/await. Two tasks take turns on one thread.
//
// Run it:   scripts/run.sh async_await            (Ctrl-C to stop)
//           scripts/run.sh async_await --tick-ms 200 --ticks 10
// Watch:    one task prints 0, 1, 2 ... a tick apart, the other "0 seconds
//           passed.", "3 seconds passed." ... three ticks apart. While one
//           sleeps, the loop runs the other. --trace shows them as task 1 and
//           task 2 (gather() numbers them), each sleeping and woken by its timer.

#include <chrono>
#include <exception>
#include <iostream>
#include <utility>

#include "6_async_await/runtime/runtime.hpp"
#include "common/command_line.hpp"

namespace {

// With --ticks N, a task stops before a line that would come at tick N or
// later (0: it never stops).
bool past_the_end(long tick, long ticks) {
  return ticks != 0 && tick >= ticks;
}

// Python: for num in count(0): print(num); await asyncio.sleep(1)
lesson6::Task<void> print_nums(std::chrono::milliseconds tick, long ticks) {
  for (long num = 0; !past_the_end(num, ticks); ++num) {
    std::cout << num << std::endl;
    if (past_the_end(num + 1, ticks)) break;
    co_await lesson6::sleep(tick);
  }
}

// Python: for cnt in count(0, 3): print(f"{cnt} seconds passed."); await asyncio.sleep(3)
lesson6::Task<void> print_time(std::chrono::milliseconds tick, long ticks) {
  for (long count = 0; !past_the_end(count, ticks); count += 3) {
    std::cout << count << " seconds passed." << std::endl;
    if (past_the_end(count + 3, ticks)) break;
    co_await lesson6::sleep(3 * tick);
  }
}

// Python: task1 = asyncio.create_task(print_nums()); task2 = ...(print_time());
//         await asyncio.gather(task1, task2)
// Our tasks are lazy: they start when gather() starts them, in this order.
lesson6::Task<void> main_task(std::chrono::milliseconds tick, long ticks) {
  lesson6::Task<void> task1 = print_nums(tick, ticks);
  lesson6::Task<void> task2 = print_time(tick, ticks);
  co_await lesson6::gather(std::move(task1), std::move(task2));
}

}  // namespace

int main(int argc, char** argv) {
  long tick_ms = 1000;
  long ticks = 0;
  common::CommandLine command_line("async_await",
                                   "Lesson 6: two tasks interleaved by one event loop.");
  command_line.option("--tick-ms", "length of a tick in milliseconds", tick_ms, 1, 3'600'000);
  command_line.option("--ticks",
                      "stop after N ticks: the numbers 0 to N-1, and the seconds lines of "
                      "the ticks below N; 0 runs until Ctrl-C",
                      ticks, 0, 1'000'000'000);
  command_line.add_observer_options();
  command_line.parse(argc, argv);
  try {
    // Python: asyncio.run(main())
    lesson6::run(main_task(std::chrono::milliseconds(tick_ms), ticks));
  } catch (const lesson6::Stopped&) {
    return 0;  // Ctrl-C: the normal way to end it
  } catch (const std::exception& error) {
    std::cerr << "async_await: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
