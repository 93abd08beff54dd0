// One recv() on a non-blocking socket, with EINTR retried and EAGAIN and
// failures turned into what a task does next. Lessons 4 and 5 share it, so
// that their servers differ only in how a task is written.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "common/net.hpp"

namespace lesson4 {

// How many bytes came into `buffer` (0: none yet, EAGAIN), or nullopt when the
// peer has closed or reset the connection.
std::optional<std::size_t> receive_some(int fd, std::span<char> buffer);

// Accepting is common::accept_client() and sending common::send_some(),
// which every event-loop lesson uses.

}  // namespace lesson4
