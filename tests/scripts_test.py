#!/usr/bin/env python3
"""Tests of the commands a reader types: scripts/timeline.sh, scripts/run.sh
and scripts/demo.sh leave the checkout as it was, start only what they say,
stop what they started, and name a bad argument in one line.

    tests/scripts_test.py --bin BUILD/bin

Each test works on a checkout of its own: a git repository holding a copy of
scripts/ and of the lessons' tracked pictures, whose build/bin/ links to the
programs of BUILD/bin. Building and installing are not under test here: a
`cmake` and a `dpkg-query` of the test's own stand in for the real ones (the
build is up to date, every package installed). Run by ctest."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
BIN = REPOSITORY / "build-test" / "bin"  # unless told --bin
TIMEOUT = 60  # seconds, for any one script run
STAND_INS = {
    "cmake": "#!/bin/sh\nexit 0\n",
    # dpkg-query -W -f=FORMAT PACKAGE...: every package installed.
    "dpkg-query": '#!/bin/sh\nshift 2\nfor p in "$@"; do echo "$p installed"; done\n',
}


def wait_until(condition, seconds, what):
    """Polls `condition` every 50 ms until it holds, for `seconds` at most."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {seconds} s: {what}")
        time.sleep(0.05)


class Checkout(unittest.TestCase):
    programs = ()  # what the test runs, from BIN

    def setUp(self):
        if not shutil.which("git"):
            self.skipTest("git is needed")
        missing = [name for name in self.programs if not (BIN / name).exists()]
        if missing:
            self.skipTest(f"not built in {BIN}: {', '.join(missing)}")
        self.work = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)
        self.root = self.work / "checkout"
        shutil.copytree(REPOSITORY / "scripts", self.root / "scripts",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPOSITORY / ".gitignore", self.root)
        for picture in REPOSITORY.glob("[0-9]_*/*.json"):
            for tracked in (picture, picture.with_suffix(".svg")):
                if tracked.exists():
                    (self.root / picture.parent.name).mkdir(exist_ok=True)
                    shutil.copy(tracked, self.root / picture.parent.name)
        self.git("init", "-q")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "a checkout")
        build = self.root / "build"
        (build / "bin").mkdir(parents=True)
        (build / "CMakeCache.txt").touch()
        for program in BIN.iterdir():
            (build / "bin" / program.name).symlink_to(program)
        tools = self.work / "tools"
        tools.mkdir()
        for name, text in STAND_INS.items():
            (tools / name).write_text(text)
            (tools / name).chmod(0o755)
        self.environment = dict(os.environ, PATH=f"{tools}:{os.environ['PATH']}", LC_ALL="C")
        self.environment.pop("CDPATH", None)

    def git(self, *arguments):
        return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com",
                               *arguments], cwd=self.root, check=True, capture_output=True,
                              text=True, timeout=TIMEOUT).stdout

    def script(self, name, *arguments, cwd=None, environment=None):
        return subprocess.run([str(self.root / "scripts" / name), *arguments],
                              cwd=cwd or self.root, env=environment or self.environment,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=TIMEOUT)

    def assert_checkout_unchanged(self):
        self.assertEqual(self.git("status", "--porcelain"), "")

    def assert_refused_in_one_line(self, name, arguments, naming):
        done = self.script(name, *arguments)
        self.assertEqual(done.returncode, 2, (arguments, done.stdout, done.stderr))
        self.assertEqual(done.stdout, "", arguments)
        self.assertEqual(done.stderr.count("\n"), 1, (arguments, done.stderr))
        self.assertIn(naming, done.stderr, arguments)


class TimelineScript(Checkout):
    programs = ("callback_echo_server", "async_await")

    def test_draws_into_the_build_folder_and_leaves_the_checkout_as_it_was(self):
        done = self.script("timeline.sh", "3")
        self.assertEqual(done.returncode, 0, done.stderr)
        picture = self.root / "build/timeline/3_async_with_callbacks/timeline.svg"
        self.assertIn(f"picture:  {picture}\n", done.stdout)
        self.assertTrue(picture.exists())
        self.assert_checkout_unchanged()

    def test_update_redraws_the_picture_on_the_lessons_page(self):
        done = self.script("timeline.sh", "async_await", "--update")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(sorted(self.git("status", "--porcelain").split("\n")[:-1]),
                         [" M 6_async_await/async_await.json", " M 6_async_await/async_await.svg"])

    # With CDPATH exported, `cd rel` prints where it went; `cd -` always does.
    def test_a_relative_out_folder_is_named_once_whatever_cdpath_says(self):
        (self.work / "elsewhere" / "pictures").mkdir(parents=True)
        environment = dict(self.environment, CDPATH=str(self.work / "elsewhere"))
        done = self.script("timeline.sh", "async_await", "--out", "pictures",
                           cwd=self.work, environment=environment)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, f"timeline: {self.work}/pictures/async_await.json\n"
                                      f"picture:  {self.work}/pictures/async_await.svg\n")
        self.assertTrue((self.work / "pictures" / "async_await.svg").exists())
        self.assertFalse((self.work / "elsewhere" / "pictures" / "async_await.svg").exists())

    # A client that fails ends the run early, the server still running: the
    # server's unfinished timeline (a hidden file beside the picture) goes with it.
    def test_a_run_that_fails_leaves_the_checkout_as_it_was(self):
        tools = self.work / "tools"
        (tools / "nc").write_text("#!/bin/sh\nexit 1\n")
        (tools / "nc").chmod(0o755)
        done = self.script("timeline.sh", "3", "--update")
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("a client failed", done.stderr)
        self.assert_checkout_unchanged()

    def test_a_bad_argument_is_named_in_one_line(self):
        for arguments, naming in (([], "which lesson"), (["8"], "'8'"), (["2", "--out"], "--out"),
                                  (["2", "--out", "-"], "'-'"), (["2", "--frob"], "'--frob'"),
                                  (["2", "--out", "x", "--update"], "--update")):
            self.assert_refused_in_one_line("timeline.sh", arguments, naming)


class RunScript(Checkout):
    programs = ("image_server", "image_downloader")

    def test_lesson_6_writes_its_images_under_the_build_folder_wherever_it_starts(self):
        done = self.script("run.sh", "6", "--count", "2", cwd=self.root / "scripts")
        self.assertEqual(done.returncode, 0, done.stderr)
        images = self.root / "build" / "images"
        self.assertIn(f"{images}/", done.stdout)
        self.assertTrue(list(images.glob("*-01.bmp")), done.stdout)
        self.assert_checkout_unchanged()

    def test_help_of_lesson_6_starts_no_program(self):
        started = self.work / "image_server started"
        server = self.root / "build" / "bin" / "image_server"
        server.unlink()
        server.write_text(f"#!/bin/sh\ntouch '{started}'\necho 'listening on 127.0.0.1:1'\n"
                          "exec sleep 10\n")
        server.chmod(0o755)
        done = self.script("run.sh", "6", "--help")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("usage: image_downloader", done.stdout)
        self.assertFalse(started.exists(), "run.sh 6 --help started image_server")

    # What a supervisor or a closed terminal sends: nothing run.sh started
    # may outlive it, nor print after it has gone, nor leave a half-written
    # image behind.
    def test_sigterm_or_sighup_stops_the_server_and_the_downloader_before_run_sh_exits(self):
        for stop in (signal.SIGTERM, signal.SIGHUP):
            with self.subTest(signal=stop.name):
                self.stop_lesson_6(stop)

    def stop_lesson_6(self, stop):
        output, images = self.work / "output", self.root / "build" / "images"
        shutil.rmtree(images, ignore_errors=True)
        with open(output, "w") as file:
            run = subprocess.Popen([str(self.root / "scripts" / "run.sh"), "6", "--count", "50"],
                                   cwd=self.root, env=self.environment, stdin=subprocess.DEVNULL,
                                   stdout=file, stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(self.kill_group, run.pid)
        # Into the downloads (what is under test): once the first file is there.
        wait_until(lambda: any(file for folder in (images, self.root / "images")
                               if folder.is_dir() for file in folder.iterdir()), TIMEOUT,
                   f"run.sh 6 never downloaded:\n{output.read_text()}")
        run.send_signal(stop)
        run.wait(TIMEOUT)
        self.assertFalse(self.group_alive(run.pid), "a process of run.sh's outlived it")
        self.assertNotIn("Couldn't connect", output.read_text())
        self.assertEqual([file.name for file in images.iterdir() if ".part" in file.name], [])

    @staticmethod
    def group_alive(group):
        try:
            os.killpg(group, 0)
            return True
        except ProcessLookupError:
            return False

    def kill_group(self, group):
        if self.group_alive(group):
            os.killpg(group, signal.SIGKILL)

    def test_a_bad_argument_is_named_in_one_line(self):
        for arguments, naming in (([], "which lesson"), (["8"], "'8'")):
            self.assert_refused_in_one_line("run.sh", arguments, naming)


class TestScript(Checkout):
    def test_a_bad_argument_is_named_in_one_line(self):
        for arguments, naming in ((["--slow"], "'--slow'"), (["--quick", "x"], "one argument")):
            self.assert_refused_in_one_line("test.sh", arguments, naming)


class DemoScript(Checkout):
    programs = ("callback_echo_server",)

    def setUp(self):
        if not shutil.which("tmux") or not shutil.which("nc"):
            self.skipTest("tmux and nc are needed")
        super().setUp()
        # A tmux server of the test's own, out of the reader's sessions.
        self.environment["TMUX_TMPDIR"] = str(self.work)
        self.environment.pop("TMUX", None)
        self.addCleanup(subprocess.run, ["tmux", "kill-server"], env=self.environment,
                        capture_output=True, timeout=TIMEOUT)

    def pane(self, index):
        return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-", "-t",
                               f"echo-demo:0.{index}"], env=self.environment, capture_output=True,
                              text=True, timeout=TIMEOUT).stdout

    def connections(self):
        return re.findall(r"^connection from \S+$", self.pane(0), re.M)

    def test_lesson_3_shows_three_clients_and_three_connections(self):
        done = self.script("demo.sh", "3", "--port", "0")
        self.assertEqual(done.returncode, 0, done.stderr)
        wait_until(lambda: len(self.connections()) >= 3, 20, f"the server's pane:\n{self.pane(0)}")
        # Each client is served: a line typed in its pane comes back.
        for client in (1, 2, 3):
            subprocess.run(["tmux", "send-keys", "-t", f"echo-demo:0.{client}",
                            f"hello from {client}", "Enter"], env=self.environment, check=True,
                           timeout=TIMEOUT)
            wait_until(lambda: self.pane(client).count(f"hello from {client}") == 2, 20,
                       f"client {client}'s pane:\n{self.pane(client)}")
        self.assertEqual(len(self.connections()), 3, self.pane(0))

    def test_the_help_describes_the_window_it_opens(self):
        help_text = self.script("demo.sh", "--help").stdout
        self.assertIn("four panes, two by two", help_text)
        self.assertIn("top left", help_text)
        done = self.script("demo.sh", "3", "--port", "0")
        self.assertEqual(done.returncode, 0, done.stderr)
        panes = subprocess.run(["tmux", "list-panes", "-t", "echo-demo", "-F",
                                "#{pane_top} #{pane_left} #{pane_start_command}"],
                               env=self.environment, capture_output=True, text=True,
                               timeout=TIMEOUT).stdout.split("\n")[:-1]
        self.assertEqual(len(panes), 4, panes)
        self.assertEqual(len({pane.split()[0] for pane in panes}), 2, panes)  # two rows
        self.assertEqual(len({pane.split()[1] for pane in panes}), 2, panes)  # two columns
        top_left = min(panes, key=lambda pane: (int(pane.split()[0]), int(pane.split()[1])))
        self.assertIn("callback_echo_server", top_left)

    def test_a_bad_argument_is_named_in_one_line(self):
        for arguments, naming in (([], "which lesson"), (["9"], "'9'"),
                                  (["3", "--port", "http"], "--port")):
            self.assert_refused_in_one_line("demo.sh", arguments, naming)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--bin":
        BIN = Path(sys.argv[2]).resolve()
        del sys.argv[1:3]
    unittest.main()
