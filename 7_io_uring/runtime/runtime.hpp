// Lesson 7's runtime, all of it: what a program includes. Read its files in
// this order: event_loop.hpp, event_loop.cpp, io.hpp (and lesson 6's task.hpp,
// whose Task and gather() it reuses).
#pragma once

#include "7_io_uring/runtime/io.hpp"  // which includes event_loop.hpp, and that task.hpp
