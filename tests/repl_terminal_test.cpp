// `coroutines --interactive` at a terminal, as Python's >>> prompt: the
// course's statements, Python's number forms, Ctrl-C, the Up arrow, Ctrl-Z
// and Ctrl-D, typed on a pseudo-terminal one key sequence at a time.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;

// A program on a pseudo-terminal: its standard streams are the terminal's,
// and we are the person at the keyboard. Killed if the test ends first.
class TerminalSession {
 public:
  explicit TerminalSession(std::string_view name, const std::vector<std::string>& arguments) {
    int terminal = -1;
    int controller = -1;
    if (openpty(&controller, &terminal, nullptr, nullptr, nullptr) != 0) {
      ADD_FAILURE() << "openpty: " << std::strerror(errno);
      return;
    }
    controller_ = common::FileDescriptor(controller);
    const std::string path = test_support::program_path(name);
    std::vector<char*> argv{const_cast<char*>(path.c_str())};
    for (const std::string& argument : arguments)
      argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      // A session of its own, with the terminal as its controlling one, so
      // that Ctrl-C sends it SIGINT.
      setsid();
      ioctl(terminal, TIOCSCTTY, 0);
      dup2(terminal, STDIN_FILENO);
      dup2(terminal, STDOUT_FILENO);
      dup2(terminal, STDERR_FILENO);
      close(terminal);
      close(controller);
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    close(terminal);
  }
  ~TerminalSession() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  TerminalSession(const TerminalSession&) = delete;
  TerminalSession& operator=(const TerminalSession&) = delete;

  void type(std::string_view keys) {
    ASSERT_EQ(write(controller_.get(), keys.data(), keys.size()),
              static_cast<ssize_t>(keys.size()));
  }

  // What the terminal showed from now on until it showed `text` (then true),
  // or 10 s passed, or the program closed the terminal (then false).
  bool wait_for(std::string_view text, std::string& shown) {
    shown.clear();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (shown.find(text) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd readable{controller_.get(), POLLIN, 0};
      if (left.count() <= 0 || poll(&readable, 1, static_cast<int>(left.count())) <= 0) {
        return false;
      }
      char buffer[1024];
      const ssize_t count = read(controller_.get(), buffer, sizeof buffer);
      if (count <= 0) return false;  // EIO: the terminal has no program left
      shown.append(buffer, static_cast<std::size_t>(count));
    }
    return true;
  }

  // Types a line (Enter is "\r" at a terminal), and returns what the terminal
  // showed until the next prompt.
  std::string enter(std::string_view line) {
    type(std::string(line) + "\r");
    std::string shown;
    EXPECT_TRUE(wait_for(">>> ", shown)) << "no prompt after '" << line << "': " << shown;
    return shown;
  }

  // What a shell does at Ctrl-Z, then `fg`: the program stops, the shell
  // takes the terminal back with its own settings (echoing what is typed,
  // line by line), and later lets the program go on. SIGSTOP, not Ctrl-Z:
  // with no shell above it, the program's process group is orphaned, and
  // the kernel discards the SIGTSTP that Ctrl-Z would send it.
  void stop_then_continue() {
    ASSERT_EQ(kill(pid_, SIGSTOP), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid_, &status, WUNTRACED), pid_);
    ASSERT_TRUE(WIFSTOPPED(status));
    termios settings{};
    ASSERT_EQ(tcgetattr(controller_.get(), &settings), 0);
    settings.c_lflag |= ECHO | ICANON;
    ASSERT_EQ(tcsetattr(controller_.get(), TCSANOW, &settings), 0);
    ASSERT_EQ(kill(pid_, SIGCONT), 0);
  }

  // Whether the terminal is as a shell wants it back: echoing what is typed,
  // line by line.
  bool echoes_lines() const {
    termios settings{};
    return tcgetattr(controller_.get(), &settings) == 0 && (settings.c_lflag & ECHO) != 0 &&
           (settings.c_lflag & ICANON) != 0;
  }

  // The exit code, once it exits (within 10 s; -1 if not). A pidfd turns
  // readable when the process ends, so poll() can wait for that.
  int wait_for_exit() {
    const common::FileDescriptor process(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
    pollfd ended{process.get(), POLLIN, 0};
    if (!process || poll(&ended, 1, 10'000) != 1) return -1;
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  common::FileDescriptor controller_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

TEST(ReplAtATerminal, TakesTheCoursesStatementsAndGivesThePromptBackAfterCtrlC) {
  TerminalSession session("coroutines", {"--interactive"});
  std::string shown;
  ASSERT_TRUE(session.wait_for(">>> ", shown)) << shown;

  EXPECT_THAT(session.enter("gen_ = gen()"),
              HasSubstr("gen_ is new (Python: gen_ = gen()), GEN_CREATED"));
  EXPECT_THAT(session.enter("next(gen_)"), HasSubstr("gen_ yielded 'Ready to accept message.'"));
  EXPECT_THAT(session.enter("avg = average()"), HasSubstr("avg is new"));
  EXPECT_THAT(session.enter("avg.send(1_000)"), HasSubstr("avg yielded 1000.0"));

  // Half a line, then Ctrl-C: Python's KeyboardInterrupt, and a new prompt.
  session.type("avg.se");
  ASSERT_TRUE(session.wait_for("avg.se", shown)) << shown;
  session.type("\x03");
  ASSERT_TRUE(session.wait_for(">>> ", shown)) << shown;
  EXPECT_THAT(shown, HasSubstr("KeyboardInterrupt"));

  // The Up arrow brings back the last line entered; Enter sends 1000 again.
  session.type("\x1b[A");
  ASSERT_TRUE(session.wait_for("avg.send(1_000)", shown)) << shown;
  EXPECT_THAT(session.enter(""), HasSubstr("avg yielded 1000.0"));

  // Ctrl-D on an empty line ends the session, as in Python, and the terminal
  // is as it was.
  session.type("\x04");
  EXPECT_EQ(session.wait_for_exit(), 0);
  EXPECT_TRUE(session.echoes_lines());
}

TEST(ReplAtATerminal, GoesOnWithTheHalfTypedLineAfterCtrlZAndFg) {
  TerminalSession session("coroutines", {"--interactive"});
  std::string shown;
  ASSERT_TRUE(session.wait_for(">>> ", shown)) << shown;
  session.type("avg.se");
  ASSERT_TRUE(session.wait_for("avg.se", shown)) << shown;

  // Back in the foreground, the prompt and the half line show again.
  session.stop_then_continue();
  ASSERT_TRUE(session.wait_for(">>> avg.se", shown)) << shown;

  // The rest of the line completes it, and each key shows once: the
  // terminal no longer echoes keys as the shell had it do.
  const std::string answer = session.enter("nd(4)");
  EXPECT_THAT(answer, HasSubstr("avg yielded 4.0"));
  ASSERT_NE(answer.find("nd(4)"), std::string::npos) << answer;
  EXPECT_EQ(answer.find("nd(4)"), answer.rfind("nd(4)")) << answer;

  session.type("\x04");
  EXPECT_EQ(session.wait_for_exit(), 0);
  EXPECT_TRUE(session.echoes_lines());
}

TEST(ReplAtATerminal, ExitEndsTheSession) {
  TerminalSession session("delegation", {"--interactive"});
  std::string shown;
  ASSERT_TRUE(session.wait_for(">>> ", shown)) << shown;
  EXPECT_THAT(session.enter("g = delegator(sg)"), HasSubstr("g is new"));
  session.type("exit()\r");
  EXPECT_EQ(session.wait_for_exit(), 0);
  EXPECT_TRUE(session.echoes_lines());
}

}  // namespace
