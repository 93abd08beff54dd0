// without_io_uring: runs a program where io_uring is refused, as Docker's
// default seccomp profile refuses it: io_uring_setup(), io_uring_enter() and
// io_uring_register() fail with EPERM, every other system call goes through.
//
// Run it:   build/bin/without_io_uring build/bin/uring_echo_server
// Observe:  the server's one line saying why it cannot run, and exit code 1.

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <iterator>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: without_io_uring PROGRAM [ARGUMENTS...]\n", stderr);
    return 2;
  }
  // A classic BPF program over the system call's number. The three io_uring
  // calls have the same numbers (425 to 427) on every Linux architecture.
  static_assert(__NR_io_uring_register - __NR_io_uring_setup == 2);
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __NR_io_uring_setup, 0, 2),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, __NR_io_uring_register, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  const sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  // No new privileges: what lets a process without CAP_SYS_ADMIN install a filter.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) < 0) {
    std::fprintf(stderr, "without_io_uring: cannot install the filter: %s\n", std::strerror(errno));
    return 127;
  }
  execv(argv[1], argv + 1);
  std::fprintf(stderr, "without_io_uring: cannot run %s: %s\n", argv[1], std::strerror(errno));
  return 127;
}
