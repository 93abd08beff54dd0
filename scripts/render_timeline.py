#!/usr/bin/env python3
"""Draws a file that a program wrote with --timeline as an SVG picture.

    scripts/render_timeline.py TIMELINE.json PICTURE.svg [--title TEXT] [--clients FILE]

One row for the thread's own track (tid 1, named "loop", or "server" in
lesson 1, whose thread runs no loop): light while it waits (in select(),
epoll_wait(), accept(), recv()...), with a dark tick each time something woke
it. One row per connection (or task, or transfer: every other track), from
its opening to its closing: light while it waits, dark while the thread runs
for it, a green mark above for each read and an orange one below for each
write. A wait that says it is queued ("image 5: queued until its task
starts") is a dashed line: what it waits for has not begun. Hovering over a
bar or a mark shows its narration (a wait's says what for). The legend lists
what the picture shows, and nothing else.

A connection's track is named after its descriptor: "127.0.0.1:48746 (fd 8)"
after its peer, or "fd 5". What the clients did, seen from their side, comes
from --clients FILE: lines "CLIENT SECONDS connects" and "CLIENT SECONDS
types", in seconds since the first client connected. Client N is drawn on the
row of the N-th connection (scripts/timeline.sh starts them far enough
apart): a black dot where it typed a line, a dashed line while it was
connected but not yet accepted.

Time starts at the first opening. Times are rounded to 50 ms, so that a new
run of the same scripted clients draws the same picture but for the clients'
port numbers; the JSON keeps every nanosecond (Perfetto's UI or
chrome://tracing show it all). Python's standard library only.
"""

import argparse
import json
import math
import sys
from xml.sax.saxutils import escape

GRID_S = 0.05  # times are rounded to this
PIXELS_PER_SECOND = 280
MARGIN_S = 0.1  # shown before the first opening and after the last closing
LABEL_WIDTH = 150
ROW_HEIGHT = 34
BAR_HEIGHT = 12
TOP = 48  # room for the title and the time axis
TITLE_CHARACTER_WIDTH = 9  # a generous guess for 14-pixel bold text: SVG cannot measure it
COLORS = {
    "waiting": "#dbe4ee",
    "running": "#2b5d8c",
    "read": "#2e8b57",
    "write": "#e07b1f",
    "loop_waiting": "#e4e4e4",
    "loop_awake": "#333333",
    "client": "#000000",
    "queued": "#2b5d8c",
}


def fail(message):
    print(f"render_timeline.py: {message}", file=sys.stderr)
    sys.exit(1)


def read_events(path):
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
        events = document["traceEvents"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        fail(f"cannot read a timeline from {path}: {error}")
    names = {}
    for event in events:
        if event.get("ph") == "M" and event.get("name") == "thread_name":
            names[event["tid"]] = event["args"]["name"]
    return [event for event in events if event.get("ph") in ("X", "i")], names


def on_grid(time_s):
    return round(time_s / GRID_S) * GRID_S


def read_clients(path):
    """{client number: [(seconds, "connects" or "types"), ...]}"""
    clients = {}
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                number, at, what = line.split()
                if what not in ("connects", "types"):
                    raise ValueError(f"unknown client event '{what}'")
                clients.setdefault(int(number), []).append((float(at), what))
    except (OSError, ValueError) as error:
        fail(f"cannot read the clients from {path}: {error}")
    return clients


def narration(event):
    args = event.get("args", {})
    text = args.get("narration", event["name"])
    if "woken by" in args:
        text += f"\nwoken by: {args['woken by']}"
    return text


def is_queued(wait):
    """'image 5: queued until ...': a wait whose narration, after the track's name, says so."""
    text = wait.get("args", {}).get("narration", "")
    return text.split(": ", 1)[-1].startswith("queued")


def first_clause(text):
    """'blocking in recv() on fd 5; nobody else...' -> 'blocking in recv() on fd 5'."""
    for separator in (";", ","):
        text = text.split(separator)[0]
    return text


class Picture:
    def __init__(self, start_s, end_s, rows):
        self.start_s = start_s
        self.width = LABEL_WIDTH + round((end_s - start_s) * PIXELS_PER_SECOND) + 20
        self.height = TOP + rows * ROW_HEIGHT + 60
        self.parts = []

    def x(self, time_s):
        return LABEL_WIDTH + round((time_s - self.start_s) * PIXELS_PER_SECOND)

    def element(self, tag, attributes, tooltip=None):
        """<tag attributes/>, with a tooltip (an SVG <title>) when one is given."""
        opening = f"<{tag} " + " ".join(f'{name}="{value}"' for name, value in attributes.items())
        if tooltip:
            self.parts.append(f"{opening}><title>{escape(tooltip)}</title></{tag}>")
        else:
            self.parts.append(f"{opening}/>")

    def rect(self, x, y, width, height, color, tooltip=None):
        self.element("rect", {"x": x, "y": y, "width": width, "height": height, "fill": color}, tooltip)

    def text(self, x, y, content, anchor="start", size=11, weight="normal"):
        self.parts.append(
            f'<text x="{x}" y="{y}" font-size="{size}" font-weight="{weight}" '
            f'text-anchor="{anchor}">{escape(content)}</text>'
        )

    def dashes(self, x1, x2, y, color, tooltip=None):
        """A dashed line: something that has not begun yet."""
        self.element("line", {"x1": x1, "y1": y, "x2": x2, "y2": y,
                              "stroke": color, "stroke-dasharray": "4 3"}, tooltip)

    def mark(self, x, y, pointing_down, color, tooltip):
        """A small triangle whose tip is at height y."""
        base = y - 5 if pointing_down else y + 5
        points = f"{x - 4},{base} {x + 4},{base} {x},{y}"
        self.element("polygon", {"points": points, "fill": color}, tooltip)

    def svg(self):
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" font-family="sans-serif">\n'
            f'<rect width="{self.width}" height="{self.height}" fill="white"/>\n'
        )
        return head + "\n".join(self.parts) + "\n</svg>\n"


THREAD_TRACK = 1  # the thread's own track: the loop's, or lesson 1's server's


def is_connection(name):
    """'fd 5' or '127.0.0.1:48746 (fd 8)': a track named after a descriptor."""
    return name.startswith("fd ") or (name.endswith(")") and " (fd " in name)


def noun_of(name):
    """What a track follows, for the legend: connection, task, image..."""
    return "connection" if is_connection(name) else (name.split() or ["track"])[0]


def draw(events, names, title, clients):
    thread = names.get(THREAD_TRACK, "loop")
    tracks = sorted(tid for tid in names if tid != THREAD_TRACK)
    if not any(e["tid"] == THREAD_TRACK for e in events) or not tracks:
        fail(f"the timeline has no {thread}, or no track besides it: "
             "does this program trace them yet?")
    connections = [tid for tid in tracks if is_connection(names[tid])]
    openings = [e["ts"] for e in events if e["name"] == "open" and e["tid"] in tracks]
    if not openings:
        fail("no track of the timeline was ever opened: is the file cut short?")
    zero_us = min(openings)

    def seconds(microseconds):
        """Seconds since the first opening, rounded to the grid."""
        return on_grid((microseconds - zero_us) / 1e6)

    ends = [seconds(e["ts"]) for e in events
            if e["name"] in ("open", "close") and e["tid"] in tracks]
    start_s = -MARGIN_S
    # The width grows in steps of half a second, so that it does not change
    # with a few milliseconds more or less, and the axis runs on until the
    # picture is as wide as its title.
    title_width = 10 + TITLE_CHARACTER_WIDTH * len(title) + 10  # it starts at x = 10
    title_end_s = start_s + (title_width - LABEL_WIDTH - 20) / PIXELS_PER_SECOND
    half_seconds = max(math.ceil((max(ends) + MARGIN_S) / 0.5), math.ceil(title_end_s / 0.5))
    end_s = half_seconds * 0.5
    picture = Picture(start_s, end_s, 1 + len(tracks))
    picture.text(10, 18, title, size=14, weight="bold")
    shown = set()  # what the legend explains: only what was drawn

    # The time axis, in seconds since the first opening.
    for step in range(half_seconds + 1):
        x = picture.x(step * 0.5)
        picture.element(
            "line", {"x1": x, "y1": TOP - 10, "x2": x, "y2": picture.height - 55, "stroke": "#cccccc"}
        )
        picture.text(x, TOP - 14, f"{step * 0.5:g} s", anchor="middle", size=10)

    def bar_y(row):
        return TOP + row * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) // 2

    # The thread: asleep in its waits, a tick where something woke it.
    y = bar_y(0)
    picture.text(10, y + BAR_HEIGHT - 2, thread, weight="bold")
    # (A mark named wait on the thread's row is a task that waits for a
    # socket that is no connection, such as the listener: the loop does not
    # block.)
    waits = [e for e in events
             if e["tid"] == THREAD_TRACK and e["name"] == "wait" and e["ph"] == "X"]
    wakes = {}
    for wait in waits:
        begin, end = max(seconds(wait["ts"]), start_s), min(seconds(wait["ts"] + wait["dur"]), end_s)
        if end <= begin:
            continue
        x, width = picture.x(begin), picture.x(end) - picture.x(begin)
        picture.rect(x, y, width, BAR_HEIGHT, COLORS["loop_waiting"], narration(wait))
        shown.add("loop_waiting")
        label = first_clause(wait["args"]["narration"])
        if width > 6 * len(label) + 8:
            picture.text(x + 4, y + BAR_HEIGHT - 2, label, size=10)
        if "woken by" in wait.get("args", {}):
            wakes.setdefault(picture.x(end), narration(wait))
    for x, tooltip in sorted(wakes.items()):
        picture.rect(x - 1, y - 3, 2, BAR_HEIGHT + 6, COLORS["loop_awake"], tooltip)
        shown.add("loop_awake")

    # The other tracks: waiting, running, and their reads and writes.
    for row, track in enumerate(tracks, start=1):
        y = bar_y(row)
        picture.text(10, y + BAR_HEIGHT - 2, names[track])
        slices = [e for e in events if e["tid"] == track and e["ph"] == "X"]
        for kind in ("wait", "run"):  # runs on top: they are short
            for piece in (s for s in slices if s["name"] == kind):
                begin, end = seconds(piece["ts"]), seconds(piece["ts"] + piece["dur"])
                x = picture.x(begin)
                if kind == "wait" and is_queued(piece):
                    if end > begin:
                        shown.add("queued")
                        picture.dashes(x, picture.x(end), y + BAR_HEIGHT // 2, COLORS["queued"],
                                       narration(piece))
                elif kind == "wait":
                    if end > begin:
                        shown.add("waiting")
                    tooltip = narration(piece) if "narration" in piece.get("args", {}) else None
                    picture.rect(x, y, picture.x(end) - x, BAR_HEIGHT, COLORS["waiting"], tooltip)
                else:
                    shown.add("running")
                    width = max(picture.x(end) - x, 2)
                    picture.rect(x, y, width, BAR_HEIGHT, COLORS["running"], narration(piece))
        drawn = set()
        for mark in (e for e in events if e["tid"] == track and e["name"] in ("read", "write")):
            x = picture.x(seconds(mark["ts"]))
            if (x, mark["name"]) in drawn:
                continue
            drawn.add((x, mark["name"]))
            shown.add(mark["name"])
            if mark["name"] == "read":
                picture.mark(x, y - 1, True, COLORS["read"], narration(mark))
            else:
                picture.mark(x, y + BAR_HEIGHT + 1, False, COLORS["write"], narration(mark))

    # The clients' side: when each connected and typed.
    for number, happenings in sorted(clients.items()):
        if number > len(connections):
            continue
        track = connections[number - 1]
        y = bar_y(1 + tracks.index(track))
        opened = min(seconds(e["ts"]) for e in events if e["tid"] == track and e["name"] == "open")
        for at, what in happenings:
            x = picture.x(on_grid(at))
            if what == "types":
                shown.add("client_types")
                picture.element("circle", {"cx": x, "cy": y - 10, "r": 2, "fill": COLORS["client"]},
                                f"client {number} types a line")
            elif picture.x(opened) - x > 4:
                shown.add("client_queued")
                picture.dashes(x, picture.x(opened), y + BAR_HEIGHT // 2, COLORS["client"],
                               f"client {number} has connected; the kernel queues it until accept()")

    # The legend, on as many lines as it needs: what the other tracks follow
    # is a connection, or the first word of their names (task, image...).
    nouns = sorted({noun_of(names[tid]) for tid in tracks})
    entries = [
        ("loop_waiting", "rect", f"{thread} waits"),
        ("loop_awake", "rect", f"{thread} woken"),
        ("waiting", "rect", f"{' or '.join(nouns)} waits"),
        ("running", "rect", "thread runs for it"),
        ("read", "rect", "read"),
        ("write", "rect", "write"),
        ("queued", "dashes", "queued, not begun"),
        ("client_types", "dot", "client types a line"),
        ("client_queued", "dashes", "client connected, not yet accepted"),
    ]
    color = dict(COLORS, client_types=COLORS["client"], client_queued=COLORS["client"])
    x, y = 10, picture.height - 38
    for key, symbol, words in (entry for entry in entries if entry[0] in shown):
        width = 30 + 6 * len(words)
        if x + width > picture.width:
            x, y = 10, y + 18
        if symbol == "rect":
            picture.rect(x, y - 9, 12, 10, color[key])
        elif symbol == "dot":
            picture.element("circle", {"cx": x + 6, "cy": y - 4, "r": 2, "fill": color[key]})
        else:
            picture.dashes(x, x + 12, y - 4, color[key])
        picture.text(x + 16, y, words, size=10)
        x += width
    return picture.svg()


def main():
    parser = argparse.ArgumentParser(description="Draw a program's --timeline file as SVG.")
    parser.add_argument("timeline", help="the JSON file that --timeline wrote")
    parser.add_argument("picture", help="the SVG file to write")
    parser.add_argument("--title", default="", help="a line above the picture")
    parser.add_argument("--clients", help="what the clients did, seen from their side")
    # A mistake is one line, not the usage again.
    parser.error = lambda message: parser.exit(2, f"render_timeline.py: {message} (try --help)\n")
    arguments = parser.parse_args()
    events, names = read_events(arguments.timeline)
    clients = read_clients(arguments.clients) if arguments.clients else {}
    svg = draw(events, names, arguments.title, clients)
    try:
        with open(arguments.picture, "w", encoding="utf-8") as file:
            file.write(svg)
    except OSError as error:
        fail(f"cannot write {arguments.picture}: {error}")


if __name__ == "__main__":
    main()
