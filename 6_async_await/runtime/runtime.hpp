// Lesson 6's runtime, all of it: what a program includes. Read its files in
// this order: task.hpp, event_loop.hpp, event_loop.cpp, io.hpp.
#pragma once

#include "6_async_await/runtime/event_loop.hpp"
#include "6_async_await/runtime/io.hpp"
#include "6_async_await/runtime/task.hpp"
