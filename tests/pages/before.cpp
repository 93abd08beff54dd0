// Before: a header comment
// that the count leaves out.

int answer() {
  return 41;
}
