/**
 * Text from the database as one line that cannot drive the terminal: a backslash, control
 * characters (a newline, an escape sequence), line and paragraph separators and the bidirectional
 * overrides written as escapes (\\, \n, \x1b, \u202e), so a value keeps to its line, prints as it
 * is stored, and two different values never print the same.
 */
export function printable(text: string): string {
  const named: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  return text.replace(/[\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return named[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}
