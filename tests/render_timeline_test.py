"""scripts/render_timeline.py draws a --timeline file as SVG: a row for the
thread (the loop, or lesson 1's server) and one per connection (or task, or
transfer), marks for reads and writes, what each wait was for, the scripted
clients on their connections' rows, a legend of what is drawn, and the same
picture again when the times move by a few milliseconds, and a picture as
wide as its title. Run by ctest."""

import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree

RENDERER = os.path.join(os.path.dirname(__file__), "..", "scripts", "render_timeline.py")
SVG = "{http://www.w3.org/2000/svg}"
READ_COLOR = "#2e8b57"
WRITE_COLOR = "#e07b1f"


CONNECTIONS = ("127.0.0.1:40001 (fd 5)", "127.0.0.1:40002 (fd 6)")


def timeline(jitter_us=0, names=CONNECTIONS, thread="loop"):
    """What observer::Timeline writes for two connections (or tracks of other
    names) served in turns (times in µs), the thread's own track named
    `thread`. Every other event moves by jitter_us, the others as much back."""
    events = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "server"}}]
    for track, name in zip((2, 3), names):
        events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": track, "args": {"name": name}})

    def moved(at):
        return at + (jitter_us if len(events) % 2 else -jitter_us)

    def mark(name, track, at):
        events.append({"name": name, "ph": "i", "s": "t", "pid": 1, "tid": track,
                       "ts": moved(at), "args": {"narration": f"{name} at {at}"}})

    def piece(name, track, start, end, **args):
        events.append({"name": name, "ph": "X", "pid": 1, "tid": track, "ts": moved(start),
                       "dur": end - start, "args": args})

    piece("wait", 1, 0, 100_000, narration="select(): waiting", **{"woken by": "fd 3: ready"})
    mark("open", 2, 100_000)
    piece("wait", 1, 100_050, 300_000, narration="select(): waiting", **{"woken by": "fd 3: ready"})
    mark("open", 3, 300_000)
    for start, track in ((500_000, 2), (700_000, 3), (900_000, 2), (1_100_000, 3)):
        piece("wait", 1, start - 199_900, start, narration="select(): waiting",
              **{"woken by": f"fd {track + 3}: ready"})
        piece("run", track, start, start + 30, narration="ready to read")
        mark("read", track, start + 5)
        mark("write", track, start + 20)
    # Between its opening, its runs and its closing, a track waits.
    for track, opened, closed in ((2, 100_000, 1_200_000), (3, 300_000, 1_300_000)):
        since = opened
        for start in ((500_000, 900_000) if track == 2 else (700_000, 1_100_000)):
            piece("wait", track, since, start)
            since = start + 30
        piece("wait", track, since, closed)
    mark("close", 2, 1_200_000)
    mark("close", 3, 1_300_000)
    # The thread's name comes last: a program may rename it while it runs.
    events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": thread}})
    return {"displayTimeUnit": "ms", "traceEvents": events}


def texts_of(picture):
    return [text.text for text in ElementTree.parse(picture).getroot().iter(SVG + "text")]


class RenderTimelineTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)

    def render(self, document, title="Two connections", clients=None):
        source = os.path.join(self.folder.name, "timeline.json")
        picture = os.path.join(self.folder.name, "timeline.svg")
        with open(source, "w", encoding="utf-8") as file:
            json.dump(document, file)
        options = []
        if clients is not None:
            options = ["--clients", os.path.join(self.folder.name, "clients.txt")]
            with open(options[1], "w", encoding="utf-8") as file:
                file.write(clients)
        finished = subprocess.run([sys.executable, RENDERER, "--title", title, *options, source,
                                   picture], capture_output=True, text=True, timeout=60)
        return finished, picture

    def test_draws_a_row_for_the_loop_and_each_connection_with_their_marks(self):
        finished, picture = self.render(timeline())
        self.assertEqual(finished.returncode, 0, finished.stderr)
        root = ElementTree.parse(picture).getroot()
        texts = [text.text for text in root.iter(SVG + "text")]
        self.assertEqual(texts[0], "Two connections")
        for label in ("loop", *CONNECTIONS, "loop waits", "loop woken", "connection waits"):
            self.assertIn(label, texts)
        marks = list(root.iter(SVG + "polygon"))
        self.assertEqual(sum(mark.get("fill") == READ_COLOR for mark in marks), 4)
        self.assertEqual(sum(mark.get("fill") == WRITE_COLOR for mark in marks), 4)
        tooltips = [title.text for title in root.iter(SVG + "title")]
        self.assertIn("read at 500005", tooltips)
        self.assertIn("select(): waiting\nwoken by: fd 5: ready", tooltips)

    def test_marks_of_two_connections_alternate_in_time(self):
        finished, picture = self.render(timeline())
        self.assertEqual(finished.returncode, 0, finished.stderr)
        root = ElementTree.parse(picture).getroot()
        reads = sorted((float(mark.get("points").split()[2].split(",")[0]),
                        float(mark.get("points").split()[2].split(",")[1]))
                       for mark in root.iter(SVG + "polygon") if mark.get("fill") == READ_COLOR)
        rows = [y for _, y in reads]
        self.assertEqual(rows[0], rows[2])
        self.assertEqual(rows[1], rows[3])
        self.assertNotEqual(rows[0], rows[1])

    def test_a_few_milliseconds_later_the_picture_is_the_same(self):
        _, first = self.render(timeline())
        with open(first, encoding="utf-8") as file:
            before = file.read()
        _, second = self.render(timeline(jitter_us=2_000))
        with open(second, encoding="utf-8") as file:
            self.assertEqual(file.read(), before)

    def test_tracks_that_are_not_connections_have_rows_named_as_the_file_names_them(self):
        finished, picture = self.render(timeline(names=("image 1", "image 2")), title="Images")
        self.assertEqual(finished.returncode, 0, finished.stderr)
        root = ElementTree.parse(picture).getroot()
        texts = [text.text for text in root.iter(SVG + "text")]
        for label in ("loop", "image 1", "image 2", "image waits"):
            self.assertIn(label, texts)
        marks = list(root.iter(SVG + "polygon"))
        self.assertEqual(sum(mark.get("fill") == READ_COLOR for mark in marks), 4)

    def test_a_wait_of_a_track_shows_what_it_waited_for(self):
        document = timeline()
        document["traceEvents"].append({"name": "wait", "ph": "X", "pid": 1, "tid": 2, "ts": 100_000,
                                        "dur": 400_000, "args": {"narration": "fd 5: task 2 waits to read"}})
        finished, picture = self.render(document)
        self.assertEqual(finished.returncode, 0, finished.stderr)
        root = ElementTree.parse(picture).getroot()
        tooltips = [title.text for title in root.iter(SVG + "title")]
        self.assertIn("fd 5: task 2 waits to read", tooltips)

    # image_downloader's images wait for a --max-parallel slot before their
    # transfers begin.
    def test_a_wait_that_says_it_is_queued_is_a_dashed_line(self):
        document = timeline(names=("image 1", "image 2"))
        queued = "image 2: queued until a slot is free"
        document["traceEvents"].append({"name": "wait", "ph": "X", "pid": 1, "tid": 3,
                                        "ts": 300_000, "dur": 300_000,
                                        "args": {"narration": queued}})
        finished, picture = self.render(document, title="Images")
        self.assertEqual(finished.returncode, 0, finished.stderr)
        root = ElementTree.parse(picture).getroot()

        def tooltips(tag):
            return [title.text for element in root.iter(SVG + tag)
                    for title in element.iter(SVG + "title")]

        dashed = [line for line in root.iter(SVG + "line") if line.get("stroke-dasharray")]
        self.assertEqual([title.text for line in dashed for title in line.iter(SVG + "title")],
                         [queued])
        self.assertNotIn(queued, tooltips("rect"))  # not a bar as well
        self.assertIn("queued, not begun", [text.text for text in root.iter(SVG + "text")])

    def test_the_legend_names_reads_and_writes_only_when_there_are_some(self):
        document = timeline(names=("task 1", "task 2"))
        document["traceEvents"] = [e for e in document["traceEvents"]
                                   if e["name"] not in ("read", "write")]
        finished, picture = self.render(document, title="Tasks")
        self.assertEqual(finished.returncode, 0, finished.stderr)
        texts = [text.text for text in ElementTree.parse(picture).getroot().iter(SVG + "text")]
        self.assertIn("task waits", texts)
        self.assertNotIn("read", texts)
        self.assertNotIn("write", texts)
        self.assertNotIn("queued, not begun", texts)

    # Lesson 4's listener task waits for a socket that is no connection: a
    # mark of the loop, with no duration, which the loop's waits leave out.
    def test_a_mark_named_wait_on_the_loop_is_not_drawn_as_a_wait_of_the_loop(self):
        document = timeline()
        document["traceEvents"].append({"name": "wait", "ph": "i", "s": "t", "pid": 1, "tid": 1,
                                        "ts": 100_020, "args": {"narration": "fd 3: task 1 waits"}})
        finished, picture = self.render(document)
        self.assertEqual(finished.returncode, 0, finished.stderr)
        with open(picture, encoding="utf-8") as file:
            drawn = file.read()
        _, reference = self.render(timeline())
        with open(reference, encoding="utf-8") as file:
            self.assertEqual(drawn, file.read())

    # Lesson 1's thread runs no loop: the observer names its track "server".
    def test_the_threads_row_and_its_legend_are_named_as_the_file_names_its_track(self):
        finished, picture = self.render(timeline(thread="server"))
        self.assertEqual(finished.returncode, 0, finished.stderr)
        texts = texts_of(picture)
        for label in ("server", "server waits", "server woken"):
            self.assertIn(label, texts)
        self.assertFalse([text for text in texts if "loop" in text], texts)

    # A connection's track is named after its descriptor (and its peer, when
    # it has one); a track of another noun in between is no client's.
    def test_client_n_is_drawn_on_the_row_of_the_nth_connection(self):
        document = timeline(names=("task 1", "fd 5"))
        document["traceEvents"] += [
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": 4,
             "args": {"name": "127.0.0.1:40003 (fd 6)"}},
            {"name": "open", "ph": "i", "s": "t", "pid": 1, "tid": 4, "ts": 400_000,
             "args": {"narration": "fd 6: accepted"}},
            {"name": "close", "ph": "i", "s": "t", "pid": 1, "tid": 4, "ts": 900_000,
             "args": {"narration": "fd 6: closed"}},
        ]
        finished, picture = self.render(document, clients="1 0.2 connects\n1 0.45 types\n"
                                        "2 0.2 connects\n2 0.6 types\n")
        self.assertEqual(finished.returncode, 0, finished.stderr)
        root = ElementTree.parse(picture).getroot()
        label_y = {text.text: float(text.get("y")) for text in root.iter(SVG + "text")}
        dots = {title.text: float(dot.get("cy")) for dot in root.iter(SVG + "circle")
                for title in dot.iter(SVG + "title")}
        for client, row in (("client 1", "fd 5"), ("client 2", "127.0.0.1:40003 (fd 6)")):
            distance = label_y[row] - dots[f"{client} types a line"]
            self.assertTrue(0 < distance < 34, f"{client} is drawn {distance} px above {row}")
        self.assertIn("connection or task waits", label_y)
        # Times count from the first opening (the task's, at 0 s). Client 2
        # connected 0.1 s before its connection was accepted; client 1 as its
        # connection was (at 0.2 s).
        dashes = [title.text for line in root.iter(SVG + "line") for title in line.iter(SVG + "title")]
        self.assertEqual(dashes, ["client 2 has connected; the kernel queues it until accept()"])

    def test_the_legend_lists_only_what_the_picture_shows(self):
        # Both clients are accepted as they connect: no dashed line to explain.
        finished, picture = self.render(timeline(), clients="1 0 connects\n1 0.4 types\n"
                                        "2 0.2 connects\n2 0.6 types\n")
        self.assertEqual(finished.returncode, 0, finished.stderr)
        texts = texts_of(picture)
        self.assertIn("client types a line", texts)
        self.assertNotIn("client connected, not yet accepted", texts)
        self.assertNotIn("queued, not begun", texts)
        # Without --clients, no client at all.
        finished, picture = self.render(timeline())
        self.assertNotIn("client types a line", texts_of(picture))

    # Lesson 7's picture covers a second of clients, under a long title.
    def test_a_title_longer_than_the_timeline_widens_the_picture_and_its_time_axis(self):
        title = ("A title much longer than the second and a half of this timeline, "
                 "which would be cut off at its edge")
        finished, picture = self.render(timeline(), title=title)
        self.assertEqual(finished.returncode, 0, finished.stderr)
        root = ElementTree.parse(picture).getroot()
        width = float(root.get("width"))
        # About 8 pixels a character is what 14-pixel bold sans-serif takes.
        self.assertGreaterEqual(width, 10 + 8 * len(title), "the title is cut off")
        axis = [float(line.get("x1")) for line in root.iter(SVG + "line")
                if line.get("stroke") == "#cccccc"]
        self.assertGreater(max(axis), width - 40, "the time axis stops short of the edge")
        # A short title leaves the width to the timeline.
        widths = []
        for short_title in ("", "Two connections"):
            _, picture = self.render(timeline(), title=short_title)
            widths.append(ElementTree.parse(picture).getroot().get("width"))
        self.assertEqual(widths[0], widths[1])

    def test_a_timeline_with_no_track_besides_the_loop_is_one_line_and_exit_code_one(self):
        document = timeline()
        document["traceEvents"] = [e for e in document["traceEvents"] if e.get("tid") == 1]
        finished, _ = self.render(document)
        self.assertEqual(finished.returncode, 1)
        self.assertEqual(finished.stderr.count("\n"), 1, finished.stderr)
        self.assertIn("no track besides", finished.stderr)

    def test_a_timeline_whose_tracks_never_open_is_one_line_and_exit_code_one(self):
        document = timeline()
        document["traceEvents"] = [e for e in document["traceEvents"] if e["name"] != "open"]
        finished, _ = self.render(document)
        self.assertEqual(finished.returncode, 1)
        self.assertEqual(finished.stderr.count("\n"), 1, finished.stderr)
        self.assertIn("ever opened", finished.stderr)

    def test_a_bad_command_line_is_one_line_and_exit_code_two(self):
        finished = subprocess.run([sys.executable, RENDERER, "only-one-file.json"],
                                  capture_output=True, text=True, timeout=60)
        self.assertEqual(finished.returncode, 2)
        self.assertEqual(finished.stderr.count("\n"), 1, finished.stderr)
        self.assertIn("picture", finished.stderr)

    def test_a_file_that_is_not_json_is_one_line_and_exit_code_one(self):
        source = os.path.join(self.folder.name, "broken.json")
        with open(source, "w", encoding="utf-8") as file:
            file.write('{"traceEvents":[')
        finished = subprocess.run([sys.executable, RENDERER, source, source + ".svg"],
                                  capture_output=True, text=True, timeout=60)
        self.assertEqual(finished.returncode, 1)
        self.assertEqual(finished.stderr.count("\n"), 1, finished.stderr)
        self.assertIn("cannot read a timeline", finished.stderr)


if __name__ == "__main__":
    unittest.main()
