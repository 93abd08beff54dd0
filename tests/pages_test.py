#!/usr/bin/env python3
"""Tests of scripts/pages.py. The fixture in tests/pages/ is a small repository
of its own: a page with every kind of directive (page.md.in, stored so that the
project's own check leaves it alone), the files it quotes and the programs it
runs. Each test works on a fresh copy of it, out of any git checkout."""

import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TOOL = TESTS.parent / 'scripts' / 'pages.py'
sys.path.insert(0, str(TOOL.parent))
sys.dont_write_bytecode = True  # no __pycache__ left in the checkout
import pages  # noqa: E402  (found through the path above)


class FixturePage(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.root)
        shutil.copytree(TESTS / 'pages', self.root, dirs_exist_ok=True)
        for stored in self.root.glob('*.md.in'):
            stored.rename(stored.with_suffix(''))
        self.page = self.root / 'page.md'
        self.pristine = self.page.read_text()

    def tool(self, mode, *extra):
        done = subprocess.run([sys.executable, str(TOOL), mode, '--root', str(self.root),
                               '--bin', str(self.root / 'bin'), *extra],
                              capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr

    def failure(self, mode, *extra):
        """Runs the tool, which must exit with code 1, and returns its report."""
        code, report = self.tool(mode, *extra)
        self.assertEqual(code, 1, report)
        return report

    def edit(self, old, new):
        text = self.page.read_text()
        self.assertEqual(text.count(old), 1, f'the fixture holds {old!r} once')
        self.page.write_text(text.replace(old, new))

    def line_of(self, text):
        return self.page.read_text().split('\n').index(text) + 1

    def assert_caught_and_put_right(self, old, new, directive):
        """A hand edit fails --check at the directive's line, with a diff
        naming it; --update takes it out and the check passes again."""
        self.edit(old, new)
        report = self.failure('--check')
        self.assertIn(f'page.md:{self.line_of(directive)}: {directive}', report)
        self.assertIn(new.strip().split('\n')[0], report)
        code, report = self.tool('--update')
        self.assertEqual(code, 0, report)
        self.assertNotIn(new, self.page.read_text())
        self.assertEqual(self.tool('--check'), (0, ''))

    def test_the_fixture_page_passes_the_check(self):
        self.assertEqual(self.tool('--check'), (0, ''))

    def test_update_leaves_a_page_that_passes_unchanged(self):
        self.assertEqual(self.tool('--update'), (0, ''))
        self.assertEqual(self.page.read_text(), self.pristine)

    def test_an_excerpt_edited_by_hand_fails_and_update_puts_it_right(self):
        self.assert_caught_and_put_right("    name_ += '}';", "    name_ += '{';",
                                         "<!-- code sample.cpp 'Canvas::draw(const' -->")
        self.assertEqual(self.page.read_text(), self.pristine)

    def test_an_excerpt_whose_code_changed_fails_and_update_puts_it_right(self):
        sample = self.root / 'sample.cpp'
        sample.write_text(sample.read_text().replace('// A square: one side.', '// A square.'))
        self.assertIn('-// A square: one side.\n    +// A square.', self.failure('--check'))
        self.assertEqual(self.tool('--update')[0], 0)
        self.assertIn('\n// A square.\nstruct Square {', self.page.read_text())

    def test_a_transcript_edited_by_hand_fails_and_update_puts_it_right(self):
        self.assert_caught_and_put_right('hello, reader\n', 'hello, everybody\n', '<!-- run -->')

    def test_a_terminal_session_edited_by_hand_fails_and_update_puts_it_right(self):
        self.assert_caught_and_put_right('FIRST LINE\n', 'FIRST  LINE\n', '<!-- run')

    def test_a_server_session_edited_by_hand_fails_and_update_puts_it_right(self):
        self.assert_caught_and_put_right('received 6 bytes\n', 'received 7 bytes\n', '<!-- session')

    def test_an_inline_number_edited_by_hand_fails_and_update_puts_it_right(self):
        directive = '<!-- changed-lines before.cpp after.cpp -->'
        self.edit(directive + '3', directive + '4')
        report = self.failure('--check')
        self.assertIn(f'page.md:{self.line_of("`after.cpp` changes " + directive + "4 lines of")}: '
                      f'{directive}\n    -4\n    +3', report)
        self.assertEqual(self.tool('--update')[0], 0)
        self.assertEqual(self.page.read_text(), self.pristine)

    def test_a_broken_link_fails_and_update_leaves_it_for_a_person_to_mend(self):
        self.edit('(other.md#setup-1)', '(other.md#setup-2)')
        self.edit('![a square](diagram.svg)', '![a square](diagram.png)')
        for mode in ('--check', '--update'):
            report = self.failure(mode)
            self.assertIn('link other.md#setup-2: other.md has no heading with that anchor', report)
            self.assertIn('link diagram.png: no such file in the repository', report)
        self.assertIn('(other.md#setup-2)', self.page.read_text())

    def test_a_masked_number_may_differ_but_the_text_around_it_may_not(self):
        self.edit(self.pristine.split('took ')[1].split(' s')[0], '0.01')  # the default mask: N.NN s
        self.edit(self.pristine.split('in process ')[1].split('\n')[0], '1')  # the page's own mask
        self.edit(self.pristine.split('listening on 127.0.0.1:')[1].split('\n')[0], '5000')
        self.assertEqual(self.tool('--check'), (0, ''))
        self.edit('in process', 'in the process')
        self.assertIn('+took … s in process …', self.failure('--check'))

    def test_update_writes_the_fenced_block_of_a_new_code_directive(self):
        self.edit('<!-- code before.cpp -->\n', '<!-- code before.cpp -->\n<!-- code after.cpp answer -->\n')
        self.failure('--check')
        self.assertEqual(self.tool('--update')[0], 0)
        self.assertIn('<!-- code after.cpp answer -->\n```cpp\nint answer() {\n  const int half = 21;\n',
                      self.page.read_text())

    def test_a_name_that_is_not_defined_is_an_error_that_update_reports(self):
        self.edit("<!-- code sample.cpp opening Square", "<!-- code sample.cpp opening Circle")
        self.assertIn("'Circle' is defined nowhere", self.failure('--update'))

    def test_a_program_that_exits_with_another_code_is_an_error(self):
        self.edit('<!-- run exit=3', '<!-- run exit=0')
        self.assertIn('exit code 3, not 0', self.failure('--check'))

    def test_a_program_that_outlives_its_timeout_is_an_error(self):
        self.edit('<!-- run -->\n```console\n$ build/bin/greet reader',
                  '<!-- run timeout=1 -->\n```console\n$ build/bin/greet --sleep 30 reader')
        self.assertIn('still running after 1.0 s', self.failure('--check'))

    def test_a_session_needs_port_zero(self):
        self.edit('$ build/bin/echo_server --port 0', '$ build/bin/echo_server --port 5000')
        self.assertIn('--port 0', self.tool('--check')[1])

    def test_each_step_waits_until_the_server_has_come_to_rest(self):
        # After an echo the fixture server works for 50 ms, then says
        # 'nothing more yet' unless the next step has already come.
        code, output = pages.run_session([str(self.root / 'bin' / 'echo_server'), '--port', '0', '--trace'],
                                         self.root, ['connect A', 'send A hi', 'close A'], 10)
        self.assertEqual(code, 0)
        self.assertIn('received 3 bytes\nnothing more yet\nreceived 0 bytes\n', output)

    def test_a_server_that_never_listens_is_an_error_not_a_hang(self):
        self.edit('<!-- session', '<!-- session timeout=1')
        self.edit('$ build/bin/echo_server --port 0 --trace', '$ build/bin/greet --sleep 30 --port 0')
        self.assertIn("the server never printed 'listening on H:P'", self.failure('--check'))

    def test_a_transcript_beside_a_server_edited_by_hand_fails_and_update_puts_it_right(self):
        self.assert_caught_and_put_right('hello, neighbour\n', 'hello, stranger\n',
                                         "<!-- run server='build/bin/echo_server --port 0' -->")

    def test_the_command_beside_a_server_reaches_it_whatever_port_the_page_shows(self):
        # Nobody listens on port 1: greet fails unless the tool names its server.
        self.edit('greet --via 127.0.0.1:40969', 'greet --via 127.0.0.1:1')
        self.assertEqual(self.tool('--check'), (0, ''))
        self.edit('hello, neighbour\n', 'hello, stranger\n')
        self.assertEqual(self.tool('--update')[0], 0)
        shown = re.search(r'greet --via 127\.0\.0\.1:(\d+) neighbour', self.page.read_text())
        self.assertNotEqual(shown[1], '1', 'the page shows the port of the run it shows')

    def test_a_server_beside_a_command_must_take_port_zero_listen_and_stop_with_code_zero(self):
        directive = "<!-- run server='build/bin/echo_server --port 0' -->"
        for server, problem in (('echo_server --port 5000', 'a server is started with --port 0'),
                                ('greet --sleep 30 --port 0', "never printed 'listening on H:P'"),
                                ('echo_server --port 0 --exit 3', 'exited with code 3, not 0')):
            self.page.write_text(self.pristine.replace(
                directive, f"<!-- run timeout=1 server='build/bin/{server}' -->"))
            self.assertIn(problem, self.failure('--check'))

    def test_a_run_beside_a_server_takes_no_input_lines(self):
        self.edit('<!-- run\nfirst line', "<!-- run server='build/bin/echo_server --port 0'\nfirst line")
        self.assertIn('a run beside a server takes no input lines', self.failure('--check'))

    def test_a_sentence_over_40_words_fails_at_its_line_and_update_leaves_it_for_a_person(self):
        words = ' '.join(['word'] * 39)
        self.edit('## Links\n', f'## Links\n\nThe {words} end. Short and fine.\n')
        for mode in ('--check', '--update'):
            report = self.failure(mode)
            self.assertIn(f'page.md:{self.line_of(f"The {words} end. Short and fine.")}: '
                          'sentence of 41 words (at most 40)\n    The word word', report)
            self.assertNotIn('Short and fine', report)
        self.assertIn('page.md: 1 of ', report)  # counted among the long ones too

    def test_sentences_of_40_words_pass_and_the_longest_over_25_are_named(self):
        for length, line in ((40, 'one'), (26, 'two'), (30, 'three'), (27, 'four')):
            self.edit('## Links\n', f'## Links\n\n{" ".join([line] * length)}.\n')
        code, report = self.tool('--check')
        self.assertEqual(code, 0, report)
        self.assertRegex(report, r'^page\.md: 4 of \d+ sentences over 25 words; the longest: '
                         rf'line {self.line_of(" ".join(["one"] * 40) + ".")} \(40\), '
                         rf'line {self.line_of(" ".join(["three"] * 30) + ".")} \(30\), '
                         rf'line {self.line_of(" ".join(["four"] * 27) + ".")} \(27\)\n$')

    def test_a_bad_command_line_is_one_line_and_exit_code_two(self):
        done = subprocess.run([sys.executable, str(TOOL), '--check', '--update'],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stdout, '')
        self.assertEqual(done.stderr.count('\n'), 1, done.stderr)
        self.assertIn('--update', done.stderr)
        code, report = self.tool('--check', '--root', str(self.root / 'nowhere'))
        self.assertEqual(code, 2)
        self.assertIn('no such folder', report)

    def test_a_page_that_does_not_exist_is_reported(self):
        report = self.failure('--check', str(self.root / 'nowhere.md'))
        self.assertNotIn('Traceback', report)
        self.assertIn('nowhere.md: No such file or directory', report)

    def test_no_git_is_needed(self):
        # Only python3 and diff on the PATH (the Python running this test).
        tools = self.root / 'tools'
        tools.mkdir()
        for tool in ('python3', 'diff'):
            (tools / tool).symlink_to(shutil.which(tool) if tool == 'diff' else sys.executable)
        done = subprocess.run(['python3', str(TOOL), '--check', '--root', str(self.root),
                               '--bin', str(self.root / 'bin')], capture_output=True, text=True,
                              timeout=120, env={'PATH': str(tools)})
        self.assertEqual((done.returncode, done.stdout + done.stderr), (0, ''))

    def test_the_pages_to_check_can_be_named(self):
        (self.root / 'broken.md').write_text('[nowhere](nowhere.md)\n')
        self.assertEqual(self.tool('--check', str(self.page)), (0, ''))
        self.failure('--check')


class FindingDefinitions(unittest.TestCase):
    def find(self, source, name):
        return textwrap.dedent('\n'.join(pages.find_definition(textwrap.dedent(source), name)))

    def test_braces_in_literals_and_comments_do_not_end_a_definition(self):
        source = '''
            void draw() {
              out << '{' << "}}" << R"x(})x";  // }
              /* } */
            }
            int after = 1;'''
        self.assertTrue(self.find(source, 'draw').endswith('/* } */\n}'))

    def test_a_digit_separator_is_not_a_character_literal(self):
        # Read as a character literal, '000 + ' would leave the '}' after it a brace.
        self.assertEqual(self.find("long f() {\n  return 1'000 + '}';\n}", 'f'),
                         "long f() {\n  return 1'000 + '}';\n}")

    def test_the_comment_lines_right_above_come_along_but_not_past_a_blank_line(self):
        source = '''
            // Not this one.

            // This one,
            // and this one.
            template <typename T>
            struct Box {
              T value;
            };'''
        self.assertEqual(self.find(source, 'Box'),
                         '// This one,\n// and this one.\ntemplate <typename T>\nstruct Box {\n  T value;\n};')

    def test_a_member_function_is_found_inside_its_class_or_outside(self):
        source = '''
            class Server {
             public:
              Server() : port_{0} {}
              int port() const { return port_; }
              void run();
             private:
              int port_;
            };
            void Server::run() { port_ = 1; }'''
        self.assertEqual(self.find(source, 'Server::port'), 'int port() const { return port_; }')
        self.assertEqual(self.find(source, 'Server::run'), 'void Server::run() { port_ = 1; }')
        self.assertEqual(self.find(source, 'Server::Server'), 'Server() : port_{0} {}')
        self.assertTrue(self.find(source, 'Server').startswith('class Server {'))

    def test_a_declaration_a_use_or_an_initializer_is_not_a_definition(self):
        source = '''
            void run();
            class Client : Base {
              Client() : run(1), port_{run()} {}
            };'''
        for name in ('run', 'Base', 'port_'):
            with self.assertRaisesRegex(pages.PageError, 'defined nowhere'):
                self.find(source, name)

    def test_a_name_defined_twice_is_an_error_unless_its_parameters_pick_one(self):
        source = 'void draw(int x) {}\nvoid draw(double x) {}'
        with self.assertRaisesRegex(pages.PageError, 'defined 2 times'):
            self.find(source, 'draw')
        self.assertEqual(self.find(source, 'draw(double'), 'void draw(double x) {}')

    def test_variables_aliases_concepts_enums_and_operators_are_found(self):
        source = '''
            constexpr std::array<int, 2> sizes{1, 2};
            using Size = int;
            template <typename T>
            concept Sized = requires(T t) { t.size(); };
            enum class Colour { red, green };
            std::ostream& operator<<(std::ostream& out, Colour) { return out << '{'; }'''
        self.assertEqual(self.find(source, 'sizes'), 'constexpr std::array<int, 2> sizes{1, 2};')
        self.assertEqual(self.find(source, 'Size'), 'using Size = int;')
        self.assertEqual(self.find(source, 'Sized'),
                         'template <typename T>\nconcept Sized = requires(T t) { t.size(); };')
        self.assertEqual(self.find(source, 'Colour'), 'enum class Colour { red, green };')
        self.assertTrue(self.find(source, 'operator<<').endswith("return out << '{'; }"))

    def test_locals_inside_a_function_are_not_looked_at(self):
        with self.assertRaisesRegex(pages.PageError, 'defined nowhere'):
            self.find('int f() {\n  int count = 0;\n  return count;\n}', 'count')

    def test_from_and_to_keep_a_part_and_refuse_an_ambiguous_start(self):
        lines = ['void f() {', '  a();', '  b();', '  a();', '}']
        self.assertEqual(pages.between(lines, 'b()', '}'), ['  b();', '  a();', '}'])
        with self.assertRaisesRegex(pages.PageError, 'on 2 lines'):
            pages.between(lines, 'a()', '}')

    def test_from_alone_keeps_the_rest_of_a_named_definition(self):
        root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, root)
        (root / 'f.cpp').write_text('// Says hello.\nvoid f() {\n  a();\n  b();\n}\n')
        self.assertEqual(pages.code_block(root, ['f.cpp', 'f'], {'from': 'b()'}),
                         ('cpp', ['  b();', '}']))
        with self.assertRaisesRegex(pages.PageError, 'needs a to='):
            pages.code_block(root, ['f.cpp'], {'from': 'b()'})


class Numbers(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.root)

    def write(self, name, text):
        (self.root / name).write_text(textwrap.dedent(text))

    def test_changed_lines_count_what_diff_marks_outside_the_header_comments(self):
        # The headers differ entirely and count nothing; one line goes, two come.
        self.write('a.cpp', '// Lesson A\n//\n// says A.\nint f() {\n  return 1;\n}\n')
        self.write('b.cpp', '// Lesson B\nint f() {\n  int one = 1;\n  return one;\n}\n')
        self.assertEqual(pages.changed_lines(self.root, ['a.cpp', 'b.cpp']), 3)

    def test_nonblank_lines_count_every_file_a_pattern_names(self):
        self.write('a.cpp', 'one\n\n  \ntwo\n')
        self.write('b.hpp', 'three\n')
        self.assertEqual(pages.nonblank_lines(self.root, ['*.cpp', '*.hpp']), 3)
        with self.assertRaisesRegex(pages.PageError, 'names no file'):
            pages.nonblank_lines(self.root, ['*.py'])


class Anchors(unittest.TestCase):
    def test_anchors_follow_github_lower_case_no_punctuation_numbered_repeats(self):
        page = textwrap.dedent('''\
            # Lesson 2: one thread, `select()`
            ## What's new?
            ## Setup
            ## Setup
            ```sh
            # a comment in a block of code is no heading
            ```
            ## A [linked](x.md) heading''')
        self.assertEqual(pages.anchors(page), {'lesson-2-one-thread-select', 'whats-new', 'setup',
                                               'setup-1', 'a-linked-heading'})


class Links(unittest.TestCase):
    def test_a_broken_link_is_reported_at_its_own_line_after_a_fenced_block(self):
        page = '```sh\nlong lines of code that the check blanks out\n```\n\n[gone](gone.md)\n'
        self.assertEqual(list(pages.broken_links(Path('.'), 'page.md', page, {'page.md'})),
                         [(5, 'link gone.md: no such file in the repository')])

    def test_a_page_not_yet_tracked_may_link_to_its_own_headings(self):
        page = '# Top\n\n[up](#top) [down](#bottom)\n'
        self.assertEqual(list(pages.broken_links(Path('.'), 'new.md', page, set())),
                         [(3, 'link #bottom: new.md has no heading with that anchor')])


class Sentences(unittest.TestCase):
    def sentences(self, page):
        return [(line, words) for line, words, _ in pages.sentences(textwrap.dedent(page))]

    def test_a_sentence_ends_at_a_full_stop_before_a_space_not_inside_a_number_or_after_e_g(self):
        found = pages.sentences('It took 4.03 s on 127.0.0.1, e.g. for one... or two. '
                                'epoll is next! Is it? yes')
        self.assertEqual([sentence for _, _, sentence in found],
                         ['It took 4.03 s on 127.0.0.1, e.g. for one... or two.', 'epoll is next!',
                          'Is it?', 'yes'])

    def test_a_colon_or_a_semicolon_goes_on_but_a_list_item_is_a_sentence_of_its_own(self):
        self.assertEqual(self.sentences('''\
            One: two; three
            four.

            - five six
            - seven: eight
              nine.
            1. ten
            '''), [(1, 4), (4, 2), (5, 3), (7, 1)])

    def test_code_directives_headings_tables_and_link_targets_are_not_prose(self):
        long = ' '.join(['word'] * 50)
        self.assertEqual(self.sentences(f'''\
            # {long}

            ```text
            {long}. {long}.
            ```

                {long}

            <!-- run
            {long}
            -->
            | {long} | {long} |
            |---|---|
            [reference]: https://example.com/{'/'.join(['word'] * 50)}

            > Read [the {'-'.join(['word'] * 50)} page](a/b/{'/'.join(['word'] * 50)}.md),
            > ![{long}](picture.svg) `a code span. Counted as one word` and <b>bold</b> text.
            '''), [(16, 8)])

    def test_a_sentence_is_reported_at_the_line_it_starts_on(self):
        self.assertEqual(self.sentences('''\
            First one. Second
            one goes on
            here. Third.
            '''), [(1, 2), (1, 5), (3, 1)])


class Masks(unittest.TestCase):
    def test_default_masks_hide_ports_and_times_and_nothing_around_them(self):
        self.assertEqual(pages.mask(['listening on 127.0.0.1:40969', 'sync: 20 images in 4.03 s'],
                                    pages.DEFAULT_MASKS),
                         ['listening on 127.0.0.1:…', 'sync: 20 images in … s'])

    def test_a_mask_without_groups_hides_its_whole_match(self):
        self.assertEqual(pages.mask(['18.3x faster'], [r'\d+\.\dx']), ['… faster'])


if __name__ == '__main__':
    unittest.main()
