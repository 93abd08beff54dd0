// After: a longer header comment,
// of three lines,
// that the count leaves out too.

int answer() {
  const int half = 21;
  return half * 2;
}
