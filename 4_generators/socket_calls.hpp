// One accept() or recv() on a non-blocking socket, with EINTR retried
// and EAGAIN and failures turned into what a task does next. Lessons 4 and 5
// share them, so that their servers differ only in how a task is written.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "common/net.hpp"

namespace lesson4 {

// The next client from a non-blocking listener, itself non-blocking; nullopt
// when there is none after all. Out of descriptors (EMFILE), it turns the
// client away with a message rather than leave it queued: the listener would
// stay readable and the loop would spin.
std::optional<common::FileDescriptor> accept_connection(int listener);

// How many bytes came into `buffer` (0: none yet, EAGAIN), or nullopt when the
// peer has closed or reset the connection.
std::optional<std::size_t> receive_some(int fd, std::span<char> buffer);

// Sending is common::send_some(), which lessons 2 and 3 use too.

}  // namespace lesson4
