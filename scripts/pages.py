#!/usr/bin/env python3
"""Keeps the Markdown pages true to the code, their links whole, their sentences short.

  scripts/pages.py --check    print every block that differs (file, line, directive,
                              diff), every broken link and every sentence over 40 words;
                              exit 1 if there is any. Then, for each page, how many
                              sentences are over 25 words, and the longest three
  scripts/pages.py --update   rewrite those blocks from the code and from fresh runs
  options: --bin DIR   what build/bin/ in a command stands for (default build/bin)
           PAGE.md...  only these pages (default: every tracked *.md)

Directives are HTML comments, which GitHub does not show (tests/README.md
explains them at more length). A block directive starts a line, right above
the fenced block it fills:

  <!-- code FILE [NAME...] [from=TEXT to=TEXT] -->
      FILE whole, or each named C++ definition in it ('f', 'Class::member',
      'operator<<', 'f(int' for one overload), with the comment lines right
      above it, through its closing brace. A name found nowhere, or twice, is
      an error. from/to keep the lines from the one line containing the first
      TEXT to the next containing the second; with a NAME, from= alone keeps
      the rest of that definition. --update writes a missing fence.

  <!-- run [exit=N] [timeout=SECONDS] [prompt=TEXT] [server=COMMAND] [mask=REGEX]...
  INPUT LINE...
  -->
      The block's first line is `$ COMMAND` as a reader types it; the rest is
      its output. It runs from the repository root without a shell, stdin
      empty, LC_ALL=C, standard error merged into standard output. Given input
      lines, it runs on a terminal instead, and each line is typed once the
      prompt (default '>>> ') has appeared; the end of input follows the last.
      With server=, that server (started with --port 0) runs first, each
      127.0.0.1:PORT in COMMAND names it, and SIGTERM must end it with code 0.

  <!-- session [exit=N] [timeout=SECONDS] [mask=REGEX]...
  connect A       connect client A, wait for the server's 'connection from H:P'
  send A TEXT     A sends TEXT and a newline, and waits for its echo
  close A         close A, wait for 'connection from H:P closed'
  -->
      `$ COMMAND` starts a server with --port 0; the steps run one at a time,
      each ending once the server has come to rest; then SIGTERM. The block
      shows what the server printed.

Inline directives are followed by the number they print:
  <!-- changed-lines A B -->75        lines `diff A B` marks with < or >, each
                                      file's leading // lines left out
  <!-- nonblank-lines GLOB... -->120  non-blank lines of these files

Options are KEY=VALUE words, quoted as in a shell ('...' keeps backslashes).
A mask hides what varies between runs, in the page and the new output alike,
before they are compared: each group of the regex (or the whole match) becomes
'…'. Every run masks the port after 127.0.0.1: and times such as '4.03 s'.
Every relative link must name a tracked file, and a #fragment a heading of it.

A sentence is counted in prose only: code blocks, code spans (one word
each), directives, headings, tables and link targets are left out. It ends at
'.', '!' or '?' before a space (not at 'e.g.' or '...'), and at the end of its
paragraph or list item; a colon or a semicolon does not end it.
"""

import argparse
import difflib
import glob
import os
import pty
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import textwrap
import threading
import time
from pathlib import Path

BLOCK_DIRECTIVE = re.compile(r'<!--\s*(code|run|session)\b')
INLINE_DIRECTIVE = re.compile(r'(<!--\s*(changed-lines|nonblank-lines)\b(.*?)-->)(\d*)')
FENCE = re.compile(r' {0,3}(`{3,}|~{3,})')
DEFAULT_MASKS = [r'\b127\.0\.0\.1:(\d+)', r'\b(\d+\.\d+) s\b']
SERVER_ADDRESS = re.compile(r'\b127\.0\.0\.1:\d+')  # in a command run beside a server
LANGUAGES = {'.cpp': 'cpp', '.hpp': 'cpp', '.py': 'python', '.sh': 'sh', '.md': 'markdown'}


class PageError(Exception):
    """What a directive asks for cannot be done; reported with its line."""


def read(path):
    try:
        return path.read_text(encoding='utf-8')
    except OSError as error:
        raise PageError(f'{os.path.relpath(path)}: {error.strerror}') from None


def blank(text):
    """The text with every character but newlines turned into a space."""
    return re.sub(r'[^\n]', ' ', text)


# --- Code excerpts -------------------------------------------------------------------------

LITERAL = re.compile(r"""\d[\w']*                       # a number: 1'000 holds no character
                       | //[^\n]* | /\*.*?\*/ | R"([^(\s]*)\(.*?\)\1"
                       | "(?:\\.|[^"\\\n])*" | '(?:\\.|[^'\\\n])*'""", re.S | re.X)


def blank_out_literals(source):
    """The source with comments and string and character literals blanked
    (lines kept), so that no brace inside them counts."""
    return LITERAL.sub(lambda m: m[0] if m[0][0].isdigit() else blank(m[0]), source)


def scope_name(head):
    """What the '{' after `head` opens: the name of a class or namespace,
    whose body holds definitions, or None for code (a function body, an
    initializer, an enum's list), where nothing is looked for."""
    while (stripped := re.sub(r'<[^<>]*>|\([^()]*\)', '', head)) != head:
        head = stripped  # template and parameter lists say nothing about it
    found = re.search(r'\b(class|struct|union|namespace|enum)\b\s*(?:\[\[.*?\]\]\s*)*([\w:]*)',
                      head)
    return found[2] if found and found[1] != 'enum' else None


def candidates(masked, target):
    """Where `target` appears outside code and parentheses, with the names
    of the classes and namespaces around it."""
    scopes, parens, head_start = [], 0, 0
    for token in re.finditer(r'~?[A-Za-z_]\w*|[{}();]', masked):
        if token[0] == '{':
            in_code = None in scopes or parens
            scopes.append(None if in_code else scope_name(masked[head_start:token.start()]))
        elif token[0] == '}' and scopes:
            scopes.pop()
        elif token[0] in '()':
            parens += 1 if token[0] == '(' else -1
        elif token[0] == target and None not in scopes and not parens:
            yield token.start(), [part for scope in scopes for part in scope.split('::') if part]
        if token[0] in '{};':
            head_start = token.end()


def closing(masked, index):
    """The index of the bracket that closes the one at `index`."""
    opening, close, depth = masked[index], {'(': ')', '{': '}', '[': ']'}[masked[index]], 0
    for index in range(index, len(masked)):
        depth += (masked[index] == opening) - (masked[index] == close)
        if depth == 0:
            return index
    raise PageError('unbalanced brackets')


def statement_end(masked, index):
    """The ';' that ends the statement at `index`, past any brackets."""
    while index < len(masked) and masked[index] != ';':
        index = closing(masked, index) + 1 if masked[index] in '({[' else index + 1
    if index == len(masked):
        raise PageError('a statement without its ;')
    return index


def function_body_end(masked, index):
    """From a parameter list's ')': the closing brace of the function's body,
    past an initializer list (`: name_{value}`); None for a declaration."""
    initializers = False
    while index < len(masked) and masked[index] not in ';=':  # = default, = 0...
        if masked[index] == ':' and ':' not in (masked[index - 1], masked[index + 1]):
            initializers = True
        elif masked[index] == '(':
            index = closing(masked, index)
        elif masked[index] == '{':
            if not (initializers and re.search(r'[\w>]$', masked[:index].rstrip())):
                return closing(masked, index)
            index = closing(masked, index)  # a member's initializer
        index += 1
    return None


def definition_end(masked, position, name_end):
    """Where the definition named at `position` ends; None when this is a
    declaration or a use of the name."""
    before = masked[max(0, position - 100):position]
    keyword = re.search(r'\b(class|struct|union|enum|namespace|concept)\s+(?:\[\[.*?\]\]\s*)*$',
                        before)
    after = re.compile(r'\s*(.)', re.S).match(masked, name_end)[1]
    head = masked[max(masked.rfind(c, 0, position) for c in ';{}') + 1:position]
    if keyword and keyword[1] == 'concept':
        return statement_end(masked, name_end)
    if keyword:
        body = re.compile(r'[^{;]*([{;])').match(masked, name_end)
        return closing(masked, body.start(1)) if body[1] == '{' else None
    access_specifier = re.search(r'\b(public|protected|private)\s*:\s*$', before)
    if re.search(r'(,|[^:]:)\s*$', before) and not access_specifier:
        return None  # a member's initializer in a constructor, or a base class
    if after == '(':
        return function_body_end(masked, closing(masked, masked.index('(', name_end)) + 1)
    using_declaration = re.match(r'\s*using\b', head) and after != '='  # using a::b;
    if after in '={;[' and scope_name(head) is None and not using_declaration:
        return statement_end(masked, name_end)  # a variable, or a type alias
    return None


def definition_lines(source, masked, position, end):
    """The whole lines of a definition: those of its declaration above its
    name (`template <...>`), and the comment lines right above those."""
    lines, masked_lines = source.split('\n'), masked.split('\n')
    first, last = masked.count('\n', 0, position), masked.count('\n', 0, end)
    while first and (above := masked_lines[first - 1].strip()) and above[-1] not in ';{}:' \
            and not above.startswith('#'):
        first -= 1
    while first and lines[first - 1].strip() and not masked_lines[first - 1].strip():
        first -= 1  # a comment line is blank once comments are blanked out
    return lines[first:last + 1]


def name_end_if_it_matches(masked, position, last_part, parameters):
    """Where the name at `position` ends ('operator<<' with its symbols), if
    the parameters that follow start as asked ('(int'); None otherwise."""
    end = position + len(last_part)
    if last_part.startswith('operator'):
        end = position + len('operator')
        symbols = re.compile(r'\s*' + re.escape(last_part[len('operator'):]) + r'\s*(?=\()')
        if not (found := symbols.match(masked, end)):
            return None
        end = found.end()
    following = re.sub(r'\s', '', masked[end:end + 500])
    return end if following.startswith(re.sub(r'\s', '', parameters)) else None


def qualified_name(masked, position, scopes, last_part):
    """The name at `position` with its classes and namespaces, both those
    around it and those written before it (`void EchoServer::run()`)."""
    written = re.search(r'((?:\w+(?:<[^<>;{}]*>)?\s*::\s*)+)$',
                        masked[max(0, position - 200):position])
    qualifiers = re.findall(r'(\w+)(?:<[^<>]*>)?\s*::', written[1] if written else '')
    return scopes + qualifiers + [last_part]


def find_definition(source, name):
    """The lines of the one definition called `name`: 'f', 'Class::member',
    'operator<<', or 'f(int' for the overload whose parameters start so."""
    qualified, parenthesis, parameters = name.partition('(')
    wanted, masked, found = qualified.split('::'), blank_out_literals(source), []
    token = 'operator' if wanted[-1].startswith('operator') else wanted[-1]
    for position, scopes in candidates(masked, token):
        name_end = name_end_if_it_matches(masked, position, wanted[-1], parenthesis + parameters)
        full = qualified_name(masked, position, scopes, wanted[-1])
        constructor = len(full) > 1 and full[-1].lstrip('~') == full[-2]
        if name_end and full[-len(wanted):] == wanted and (len(wanted) > 1 or not constructor):
            if (end := definition_end(masked, position, name_end)) is not None:
                found.append(definition_lines(source, masked, position, end))
    if not found:
        raise PageError(f"'{name}' is defined nowhere")
    if len(found) > 1:
        raise PageError(f"'{name}' is defined {len(found)} times: pick one by how its "
                        "parameters start, as in 'f(int'")
    return found[0]


def between(lines, start_text, end_text):
    """The lines from the one containing start_text to the next containing end_text
    (None: to the last line)."""
    starts = [i for i, line in enumerate(lines) if start_text in line]
    if len(starts) != 1:
        raise PageError(f'from={start_text!r} is on {len(starts)} lines, not one')
    if end_text is None:
        return lines[starts[0]:]
    ends = [i for i, line in enumerate(lines) if i >= starts[0] and end_text in line]
    if not ends:
        raise PageError(f'to={end_text!r} is on no line from there on')
    return lines[starts[0]:ends[0] + 1]


def code_block(root, arguments, options):
    """The fence's language and the excerpt a code directive asks for."""
    if not arguments:
        raise PageError('code needs a file')
    path, names = Path(arguments[0]), arguments[1:]
    source = read(root / path)
    if names and LANGUAGES.get(path.suffix) != 'cpp':
        raise PageError('names are looked up in C++ files only; use from= and to=')
    if 'to' in options and 'from' not in options:
        raise PageError('to= needs a from=')
    if 'from' in options and (len(names) > 1 or (not names and 'to' not in options)):
        raise PageError('from= takes one name at most, and without one it needs a to=')
    parts = [find_definition(source, name) for name in names] or [source.rstrip('\n').split('\n')]
    if 'from' in options:
        parts = [between(parts[0], options['from'], options.get('to'))]
    language = 'cmake' if path.name == 'CMakeLists.txt' else LANGUAGES.get(path.suffix, 'text')
    return language, '\n\n'.join(textwrap.dedent('\n'.join(part)) for part in parts).split('\n')


# --- Transcripts and server sessions -------------------------------------------------------

def start(argv, root, **streams):
    try:
        return subprocess.Popen(argv, cwd=root, env=dict(os.environ, LC_ALL='C'), **streams)
    except OSError as error:
        raise PageError(f'{argv[0]}: {error.strerror}') from None


def run_piped(argv, root, timeout):
    process = start(argv, root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT)
    try:
        output = process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        raise PageError(f'still running after {timeout} s') from None
    finally:
        process.kill()
        process.wait()
    return process.returncode, output.decode(errors='replace')


def run_on_terminal(argv, root, inputs, prompt, timeout):
    """Runs the program on a pseudo-terminal and types each input line once
    the prompt has appeared, so that the terminal echoes it after the prompt
    as in a person's session. The end of input (^D) follows the last line."""
    controller, terminal = pty.openpty()
    settings = termios.tcgetattr(terminal)
    settings[1] &= ~termios.ONLCR  # '\n' stays '\n', not '\r\n'
    termios.tcsetattr(terminal, termios.TCSANOW, settings)
    try:
        process = start(argv, root, stdin=terminal, stdout=terminal, stderr=terminal,
                        start_new_session=True)
    finally:
        os.close(terminal)
    output, looked_at, typed, deadline = b'', 0, 0, time.monotonic() + timeout
    try:
        while True:
            prompt_at = output.find(prompt.encode(), looked_at)
            if typed < len(inputs) and prompt_at >= 0:
                typed, looked_at = typed + 1, prompt_at + len(prompt)
                end_of_input = b'\x04' if typed == len(inputs) else b''
                os.write(controller, inputs[typed - 1].encode() + b'\n' + end_of_input)
            elif time.monotonic() >= deadline:
                raise PageError(f'still running after {timeout} s; it printed:\n'
                                + output.decode(errors='replace')[-500:])
            elif select.select([controller], [], [], deadline - time.monotonic())[0]:
                try:
                    data = os.read(controller, 4096)
                except OSError:  # EIO: the program and its children are gone
                    data = b''
                if not data:
                    break
                output += data
        if typed < len(inputs):
            raise PageError(f'the program ended before input line {typed + 1} was typed')
        return process.wait(max(deadline - time.monotonic(), 1)), output.decode(errors='replace')
    finally:
        os.close(controller)
        process.kill()
        process.wait()


class ServerOutput:
    """What a server has printed so far, and how far the waits have looked
    (a line found once is not found again: a port may come back)."""

    def __init__(self, process, timeout):
        self.process, self.timeout, self.text, self.lines_seen = process, timeout, '', 0

    def read(self, deadline):
        """Waits for more output until the deadline; False at its end."""
        fd = self.process.stdout.fileno()
        if select.select([fd], [], [], max(deadline - time.monotonic(), 0))[0]:
            data = os.read(fd, 65536)
            self.text += data.decode(errors='replace')
            return bool(data)
        return True

    def read_to_end(self, deadline):
        """Until the server closes its output (it exits), or the deadline."""
        while time.monotonic() < deadline and self.read(deadline):
            pass

    def fail(self, what):
        raise PageError(f'the server {what}; it printed:\n{self.text[-1000:]}')

    def wait_for(self, line, what=None):
        """Until the server prints `line` (a regex), past the last line found."""
        deadline = time.monotonic() + self.timeout
        while True:
            lines = self.text.split('\n')[:-1]  # complete lines only
            for index in range(self.lines_seen, len(lines)):
                if re.fullmatch(line, lines[index]):
                    self.lines_seen = index + 1
                    return lines[index]
            if time.monotonic() >= deadline or not self.read(deadline):
                self.fail(f"never printed '{what or line}'")

    def wait_until_idle(self):
        """Until the server sleeps in a system call and has nothing more to
        print. A one-thread event loop sleeps only where it waits for events,
        so the next step meets it there on every run: the trace does not
        depend on timing. No event says that a process sleeps, so we look."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            printed = len(self.text)
            self.read(time.monotonic())
            stat = Path(f'/proc/{self.process.pid}/stat').read_text()
            if stat.rsplit(')', 1)[1].split()[0] == 'S' and len(self.text) == printed:
                return
            time.sleep(0.001)
        self.fail('did not come to rest')


def run_step(server, step, address, clients, timeout):
    verb, name, text = (step.split(' ', 2) + ['', ''])[:3]
    if verb not in ('connect', 'send', 'close'):
        raise PageError(f"unknown step '{step}' (connect A, send A TEXT, close A)")
    if verb != 'connect' and name not in clients:
        raise PageError(f"step '{step}': no client {name} is connected")
    try:
        if verb == 'connect':
            clients[name] = socket.create_connection(address, timeout)
            line = 'connection from %s:%d' % clients[name].getsockname()
        elif verb == 'send':
            clients[name].sendall(text.encode() + b'\n')
            echo = b''
            while len(echo) < len(text) + 1 and (chunk := clients[name].recv(65536)):
                echo += chunk
            if echo != text.encode() + b'\n':
                raise PageError(f"step '{step}': the echo was {echo!r}")
        else:
            line = 'connection from %s:%d closed' % clients[name].getsockname()
            clients.pop(name).close()
    except OSError as error:
        raise PageError(f"step '{step}': {error}") from None
    if verb != 'send':
        server.wait_for(re.escape(line), line)
    server.wait_until_idle()


def start_server(argv, root, timeout):
    """Starts a server with --port 0: the process, its output, and its
    address 'H:P' once it has printed 'listening on H:P'."""
    if not re.search(r'(^| )--port(=| )0( |$)', ' '.join(argv)):
        raise PageError('a server is started with --port 0, so that no two share a port')
    process = start(argv, root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT)
    server = ServerOutput(process, timeout)
    try:
        listening = server.wait_for(r'listening on \S+:\d+', 'listening on H:P')
    except BaseException:
        close_server(process)
        raise
    return process, server, listening.split()[-1]


def exit_code(process, timeout):
    """The exit code of a server sent SIGTERM, once it has exited."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        raise PageError(f'still running {timeout} s after SIGTERM') from None


def close_server(process):
    process.kill()
    process.wait()
    process.stdout.close()


def run_session(argv, root, steps, timeout):
    """Starts a server, runs the steps one at a time, stops it with SIGTERM."""
    process, server, address = start_server(argv, root, timeout)
    clients = {}
    try:
        host, port = address.rsplit(':', 1)
        server.wait_until_idle()
        for step in steps:
            run_step(server, step, (host, int(port)), clients, timeout)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        server.read_to_end(deadline)
        return exit_code(process, max(deadline - time.monotonic(), 0)), server.text
    finally:
        close_server(process)
        for client in clients.values():  # only now: the server stops with them connected
            client.close()


def run_beside_server(server_argv, argv, root, timeout):
    """Starts the server, runs the command with each 127.0.0.1:PORT in it
    naming the server, then stops the server, which must exit with code 0:
    the server's address, and the command's exit code and output."""
    process, server, address = start_server(server_argv, root, timeout)
    try:
        # Read all the server prints, so that it never waits on a full pipe.
        reader = threading.Thread(target=server.read_to_end,
                                  args=(time.monotonic() + 2 * timeout,), daemon=True)
        reader.start()
        try:
            code, output = run_piped([SERVER_ADDRESS.sub(address, word) for word in argv], root,
                                     timeout)
        finally:
            process.send_signal(signal.SIGTERM)
            reader.join(timeout)
        if (server_code := exit_code(process, timeout)) != 0:
            server.fail(f'exited with code {server_code}, not 0, at SIGTERM')
        return address, code, output
    finally:
        close_server(process)


def transcript(kind, context, options, script, old_content):
    """The block's command line (beside a server, with the port of this run)
    and what running it printed now."""
    if not old_content or not old_content[0].startswith('$ ') or not old_content[0][2:].strip():
        raise PageError('the block must start with the command: $ COMMAND')

    def argv(command):
        return [str(context.bin_dir / word[len('build/bin/'):]) if word.startswith('build/bin/')
                else word for word in shlex.split(command)]
    command, timeout = old_content[0][2:], float(options.get('timeout', 10))
    if script and 'server' in options:
        raise PageError('a run beside a server takes no input lines')
    if kind == 'session':
        code, output = run_session(argv(command), context.root, script, timeout)
    elif script:
        prompt = options.get('prompt', '>>> ')
        code, output = run_on_terminal(argv(command), context.root, script, prompt, timeout)
    elif 'server' in options:
        address, code, output = run_beside_server(argv(options['server']), argv(command),
                                                  context.root, timeout)
        command = SERVER_ADDRESS.sub(address, command)  # the page shows the port of its run
    else:
        code, output = run_piped(argv(command), context.root, timeout)
    lines = [line.rstrip() for line in output.replace('\r', '').rstrip().split('\n')]
    if code != int(options.get('exit', 0)):
        raise PageError(f"exit code {code}, not {options.get('exit', 0)}; the output ended:\n"
                        + '\n'.join(lines[-20:]))
    return ['$ ' + command] + lines


def mask(lines, patterns):
    """The lines with what matches the masks replaced by '…'."""
    def hide(match):
        text, groups = match[0], [g for g in range(match.re.groups, 0, -1) if match.start(g) >= 0]
        for group in groups:  # from the last: the spans before it stay where they were
            start, end = match.start(group) - match.start(), match.end(group) - match.start()
            text = text[:start] + '…' + text[end:]
        return text if groups else '…'
    text = '\n'.join(lines)
    for pattern in patterns:
        text = re.sub(pattern, hide, text)
    return text.split('\n')


# --- Inline numbers ------------------------------------------------------------------------

def changed_lines(root, files):
    """The lines `diff A B` marks with < or >, each file's header comment
    left out: the measure the project's budgets are stated in."""
    if len(files) != 2:
        raise PageError('changed-lines takes two files')
    with tempfile.TemporaryDirectory() as folder:
        copies = [Path(folder, str(i)) for i in range(2)]
        for name, copy in zip(files, copies):
            lines = read(root / name).split('\n')
            while lines and lines[0].startswith('//'):
                lines.pop(0)
            copy.write_text('\n'.join(lines))
        diff = subprocess.run(['diff', *copies], stdout=subprocess.PIPE, text=True).stdout
    return sum(line.startswith(('<', '>')) for line in diff.split('\n'))


def nonblank_lines(root, patterns):
    names = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern, root_dir=root, recursive=True))
        if not matched:
            raise PageError(f"'{pattern}' names no file")
        names += matched
    return sum(bool(line.strip()) for name in names for line in read(root / name).split('\n'))


# --- Links ---------------------------------------------------------------------------------

def closes(fence, line):
    return line.strip().startswith(fence) and not line.strip().strip(fence[0])


def blank_fences(text):
    """The lines, with those of fenced blocks blank: a '#' or a link in a
    block of code is not a heading or a link."""
    lines, fence = text.split('\n'), None
    for index, line in enumerate(lines):
        if fence or FENCE.match(line):
            fence = None if fence and closes(fence, line) else fence or FENCE.match(line)[1]
            lines[index] = blank(line)
    return lines


def blank_code(text):
    """The text with fenced blocks and code spans blanked, lines kept."""
    span = r'(`+)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)'  # a code span ends with its paragraph
    return re.sub(span, lambda m: blank(m[0]), '\n'.join(blank_fences(text)), flags=re.S)


def anchors(text):
    """The anchor of every heading; a repeated one gets -1, -2... as on GitHub."""
    seen, result = {}, set()
    for line in blank_fences(text):
        if heading := re.match(r' {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$', line):
            words = re.sub(r'!?\[([^\]]*)\]\([^)]*\)|<[^>]+>', r'\1', heading[1])  # links: text
            slug = re.sub(r'[^\w\- ]', '', words.strip().lower()).replace(' ', '-')
            result.add(f'{slug}-{seen[slug]}' if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return result


LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)'
                  r'|^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)|\b(?:src|href)="([^"]*)"', re.M)


def broken_links(root, page, text, files):
    """(line, message) for each relative link that leads nowhere."""
    for link in LINK.finditer(re.sub(r'<!--.*?-->', lambda m: blank(m[0]), blank_code(text),
                                     flags=re.S)):
        target = link[1] or link[2] or link[3] or ''
        if re.match(r'[A-Za-z][\w+.-]*:|//', target):
            continue  # https:, mailto: and the like are not ours to check
        path, _, fragment = target.partition('#')
        name = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        problem = None
        if name.startswith('..') or (name not in ('.', page) and name not in files
                                     and not any(f.startswith(name + '/') for f in files)):
            problem = 'no such file in the repository'
        elif fragment and not name.endswith('.md'):
            problem = 'only a heading of a page can be linked to; a line number drifts'
        elif fragment and fragment not in anchors(text if name == page else read(root / name)):
            problem = f'{name} has no heading with that anchor'
        if problem:
            yield text.count('\n', 0, link.start()) + 1, f'link {target}: {problem}'


# --- Sentences -----------------------------------------------------------------------------

LONGEST_SENTENCE = 40  # words: a longer sentence fails the check
LONG_SENTENCE = 25  # words: most sentences should be shorter, and the longer are listed
BLOCK_BOUNDARY = re.compile(r' {0,3}(#{1,6}(\s|$)|\||\[[^\]]+\]:|([-*_]\s*){3,}$)')
LIST_ITEM = re.compile(r'\s*([-*+]|\d{1,9}[.)])\s+')
ABBREVIATION = re.compile(r'(\b(e\.g|i\.e|cf|vs)|\.\.|…)\.?$', re.I)  # never an end


def prose_blocks(text):
    """(line, lines) of each paragraph and list item: fenced and indented
    code, HTML comments (directives), headings, tables, rules and link
    definitions left out, and quotes' markers."""
    text = re.sub(r'<!--.*?-->', lambda m: blank(m[0]), text, flags=re.S)
    blocks, block, in_list = [], None, False
    for number, line in enumerate(blank_fences(text), start=1):
        line = re.sub(r'^ {0,3}(> ?)+', '', line)
        indented_code = re.match(r' {4}| *\t', line) and block is None and not in_list
        if not line.strip() or BLOCK_BOUNDARY.match(line) or indented_code:
            block = None
            in_list = in_list and not BLOCK_BOUNDARY.match(line) and bool(line.strip())
            continue
        if item := LIST_ITEM.match(line):
            block, in_list = (number, [line[item.end():]]), True
            blocks.append(block)
        elif block is None:
            block = (number, [line])
            blocks.append(block)
        else:
            block[1].append(line)
    return blocks


def plain_words(text):
    """Markdown as it reads: a code span is one word, a link its text, an
    image or an HTML tag nothing; the lines stay where they were."""
    def keep_lines(replacement):
        return lambda m: replacement(m) + '\n' * m[0].count('\n')
    span = r'(`+)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)'
    text = re.sub(span, keep_lines(lambda m: 'CODE'), text, flags=re.S)
    text = re.sub(r'!\[[^\]]*\]\([^)]*\)', keep_lines(lambda m: ''), text)
    text = re.sub(r'\[([^\]]*)\](\([^)]*\)|\[[^\]]*\])', keep_lines(lambda m: m[1]), text)
    text = re.sub(r'<[^<>]*>', keep_lines(lambda m: ''), text)
    return re.sub(r'\*+|(?<!\w)_+|_+(?!\w)|\\(?=\S)', '', text)


def sentences(text):
    """(line, words, sentence) of each sentence of the page's prose. One ends
    at a '.', '!' or '?' before a space (not in '4.03 s', nor 'e.g.' or '...'),
    and at the end of its paragraph or list item: a colon or a semicolon goes on."""
    found = []
    for first_line, lines in prose_blocks(text):
        prose = plain_words('\n'.join(lines))
        start = 0
        for end in re.finditer(r'[.!?]["\')\]]*(?=\s)|$', prose):
            if end[0] and ABBREVIATION.search(prose[start:end.start() + 1]):
                continue
            sentence = prose[start:end.end()]
            words = sum(bool(re.search(r'\w', word)) for word in sentence.split())
            if words:
                leading = len(sentence) - len(sentence.lstrip())
                found.append((first_line + prose.count('\n', 0, start + leading), words,
                              ' '.join(sentence.split())))
            start = end.end()
    return found


def sentence_report(page, text):
    """The sentences too long to pass, as problems (line, what, text), and a
    line that counts the long ones and names the longest, if any is long."""
    found = sentences(text)
    problems = [(line, f'sentence of {words} words (at most {LONGEST_SENTENCE})',
                 textwrap.fill(sentence, 96))
                for line, words, sentence in found if words > LONGEST_SENTENCE]
    long = sorted((s for s in found if s[1] > LONG_SENTENCE), key=lambda s: (-s[1], s[0]))
    if not long:
        return problems, None
    longest = ', '.join(f'line {line} ({words})' for line, words, _ in long[:3])
    return problems, (f'{page}: {len(long)} of {len(found)} sentences over {LONG_SENTENCE} '
                      f'words; the longest: {longest}')


# --- Pages ---------------------------------------------------------------------------------

class Context:
    def __init__(self, root, bin_dir):
        self.root, self.bin_dir = root, bin_dir


def parse_directive(lines, index):
    """The words of the block directive at lines[index], its script lines,
    and the index of the line after it."""
    end = index
    while '-->' not in lines[end]:
        end += 1
        if end == len(lines):
            raise PageError('the directive has no end (-->)')
    words = shlex.split(lines[index].split('<!--', 1)[1].split('-->')[0])
    script = [line.split('-->')[0].strip() for line in lines[index + 1:end + 1]]
    return words, [line for line in script if line], end + 1


def options_of(words, allowed):
    """Positional words, KEY=VALUE options (the last of a key wins), and masks."""
    arguments, options, masks = [], {}, []
    for word in words:
        key, equals, value = word.partition('=')
        if not (equals and re.fullmatch(r'[a-z]+', key)):
            arguments.append(word)
        elif key not in allowed:
            raise PageError(f"unknown option '{key}' (known: {', '.join(allowed)})")
        elif key == 'mask':
            masks.append(re.compile(value))
        else:
            options[key] = value
    return arguments, options, masks


def existing_block(lines, index):
    """The content of the fenced block at lines[index] and the index after it;
    (None, index) when no fence is there."""
    opening = FENCE.match(lines[index]) if index < len(lines) else None
    if not opening:
        return None, index
    for end in range(index + 1, len(lines)):
        if closes(opening[1], lines[end]):
            return lines[index + 1:end], end + 1
    raise PageError('the fenced block has no end')


def fill_block(context, words, script, old_content):
    """The block a directive asks for, fences included, and its masks."""
    if words[0] == 'code':
        arguments, options, masks = options_of(words[1:], ('from', 'to'))
        language, content = code_block(context.root, arguments, options)
    else:
        allowed = ('exit', 'timeout', 'prompt', 'mask') + (('server',) if words[0] == 'run' else ())
        arguments, options, masks = options_of(words[1:], allowed)
        if arguments:
            raise PageError(f"{words[0]} takes options only; the command is the block's first line")
        language = 'console' if words[0] == 'run' else 'text'
        content = transcript(words[0], context, options, script, old_content)
        masks = DEFAULT_MASKS + masks
    fence = '`' * max([3] + [len(m[0]) + 1 for line in content if (m := re.match('`{3,}', line))])
    return [fence + language] + content + [fence], masks


def inline_numbers(context, line, code_free_line, differences, errors, where):
    """The line with the number after each inline directive as the code says."""
    for found in reversed(list(INLINE_DIRECTIVE.finditer(code_free_line))):
        try:
            words = shlex.split(found[3])
            count = changed_lines if found[2] == 'changed-lines' else nonblank_lines
            number = str(count(context.root, words))
        except (PageError, ValueError) as error:
            errors.append((where, found[1], str(error)))
            continue
        if number != found[4]:
            differences.append((where, found[1], f'-{found[4]}\n+{number}'))
            line = line[:found.start(4)] + number + line[found.end(4):]
    return line


def process_page(context, text):
    """The page with every block and number as the code says, the
    differences from the page as it is, and the errors: (line, directive, text)."""
    lines, code_free = text.split('\n'), blank_code(text).split('\n')
    result, differences, errors, index = [], [], [], 0
    while index < len(lines):
        where, line = index + 1, lines[index]
        if not (BLOCK_DIRECTIVE.match(line) and code_free[index].strip()):
            result.append(inline_numbers(context, line, code_free[index], differences, errors,
                                         where))
            index += 1
            continue
        try:
            words, script, after_directive = parse_directive(lines, index)
            old_content, after = existing_block(lines, after_directive)
            old = lines[after_directive:after]
            new, masks = fill_block(context, words, script, old_content)
        except (PageError, ValueError, re.error) as error:
            errors.append((where, line.strip(), str(error)))
            result.append(line)  # the rest of it is left as it is, line by line
            index += 1
            continue
        result += lines[index:after_directive]
        if mask(old, masks) == mask(new, masks):
            result += old  # keeps the numbers of the run the page shows
        else:
            diff = difflib.unified_diff(mask(old, masks), mask(new, masks), 'page', 'now',
                                        lineterm='')
            differences.append((where, line.strip(), '\n'.join(diff)))
            result += new
        index = after
    return '\n'.join(result), differences, errors


def repository_files(root):
    """The files a page may link to: git's tracked files (that exist), or,
    out of a git checkout, every file but hidden ones and builds."""
    try:
        git = subprocess.run(['git', 'rev-parse', '--show-toplevel'], cwd=root,
                             capture_output=True, text=True)
    except OSError:  # no git here
        git = None
    if git and git.returncode == 0 and Path(git.stdout.strip()).resolve() == root:
        listed = subprocess.run(['git', 'ls-files', '-z'], cwd=root, capture_output=True,
                                check=True).stdout.decode().split('\0')
        return {name for name in listed if name and (root / name).is_file()}
    files = set()
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(('.', 'build'))]
        files.update(os.path.relpath(os.path.join(folder, name), root) for name in names)
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     epilog='The directives are described at the top of this '
                                     'script and in tests/README.md.')
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument('--check', action='store_true',
                      help='report what differs and sentences over 40 words (then exit 1)')
    mode.add_argument('--update', action='store_true', help='rewrite what differs')
    parser.add_argument('--bin', type=Path, help='what build/bin/ in a command stands for')
    parser.add_argument('--root', type=Path, default=Path(__file__).resolve().parent.parent,
                        help='the repository (default: the one holding this script)')
    parser.add_argument('pages', nargs='*', help='the pages (default: every tracked *.md)')
    # A mistake is one line, not the usage again.
    parser.error = lambda message: parser.exit(2, f'pages.py: {message} (try --help)\n')
    arguments = parser.parse_args()
    root = arguments.root.resolve()
    if not root.is_dir():
        parser.error(f'--root {arguments.root}: no such folder')
    context = Context(root, (arguments.bin or root / 'build/bin').resolve())
    files = repository_files(root)
    pages = [os.path.relpath(Path(page).resolve(), root) for page in arguments.pages] or \
        sorted(name for name in files if name.endswith('.md'))
    failed = False
    for page in pages:
        try:
            text = read(root / page)
        except PageError as error:
            print(error)
            failed = True
            continue
        new_text, differences, errors = process_page(context, text)
        if arguments.update and new_text != text:
            (root / page).write_text(new_text, encoding='utf-8')
            print(f'{page}: updated {len(differences)} block(s) and number(s)')
        problems = errors + ([] if arguments.update else differences)
        problems += [(line, 'link', problem)
                     for line, problem in broken_links(root, page, new_text, files)]
        too_long, long_sentences = sentence_report(page, new_text)
        problems += too_long
        for line, directive, problem in sorted(problems, key=lambda problem: problem[0]):
            print(f'{page}:{line}: {directive}\n{textwrap.indent(problem, "    ")}')
        if long_sentences:
            print(long_sentences)
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
