import { stripVTControlCharacters } from 'node:util';
import Table from 'cli-table3';

/**
 * cli-table3 options every table shares: no colour of its own (it would colour head and borders even
 * on a pipe; cells are coloured with our chalk), and `compact`: a line under the header, none
 * between rows.
 */
export const TABLE_STYLE = { head: [] as string[], border: [] as string[], compact: true };

export type ColumnAlign = 'left' | 'right';

/** Past this many rows writeTable draws the table itself. */
const CLI_TABLE3_MAX_ROWS = 200;

/**
 * A compact table (TABLE_STYLE) as one string, without a newline at the end: writeTable's pieces.
 */
export function renderTable(head: readonly string[], colAligns: readonly ColumnAlign[], rows: readonly (readonly string[])[], cliTable3MaxRows = CLI_TABLE3_MAX_ROWS): string {
  const pieces: string[] = [];
  writeTable((text) => pieces.push(text), head, colAligns, rows.length, (i) => rows[i]!, cliTable3MaxRows);
  return pieces.join('');
}

/**
 * Writes a compact table (TABLE_STYLE), without a newline at the end, in pieces of about 64 KiB;
 * `rowAt(i)` gives row i's cells, and is called twice per row (widths, then lines), so no row is
 * kept. cli-table3 draws a table of up to `cliTable3MaxRows` rows; a longer one is drawn here,
 * with the same characters, widths and alignment (test/unit/table.test.ts compares the two),
 * because cli-table3 costs about 18 µs per cell (its per-cell option merging and a fresh emoji
 * regex per width) and lays a table out in time quadratic in its rows (layout-manager.js
 * fillInTable): 12,000 drifted settings took 28 s of CPU to print.
 */
export function writeTable(
  write: (text: string) => unknown,
  head: readonly string[],
  colAligns: readonly ColumnAlign[],
  count: number,
  rowAt: (i: number) => readonly string[],
  cliTable3MaxRows = CLI_TABLE3_MAX_ROWS,
): void {
  if (count <= cliTable3MaxRows) {
    const table = new Table({ head: [...head], style: TABLE_STYLE, colAligns: [...colAligns] });
    for (let i = 0; i < count; i++) table.push([...rowAt(i)]);
    write(table.toString());
    return;
  }
  const widths = head.map(() => 0);
  const measure = (row: readonly string[]): void => {
    head.forEach((_, col) => {
      for (const line of cellLines(row[col] ?? '')) widths[col] = Math.max(widths[col]!, line.width);
    });
  };
  measure(head);
  for (let i = 0; i < count; i++) measure(rowAt(i));
  const rule = (left: string, mid: string, right: string): string => left + widths.map((width) => '─'.repeat(width + 2)).join(mid) + right;
  let pending: string[] = [];
  let size = 0;
  const line = (text: string): void => {
    pending.push(text);
    size += text.length;
    if (size >= 65_536) {
      write(`${pending.join('\n')}\n`);
      pending = [];
      size = 0;
    }
  };
  const rowLines = (row: readonly string[]): void => {
    const cells = head.map((_, col) => cellLines(row[col] ?? ''));
    const height = Math.max(...cells.map((lines) => lines.length));
    for (let k = 0; k < height; k++) {
      const drawn = cells.map((lines, col) => {
        const { text, width } = lines[k] ?? { text: '', width: 0 };
        const fill = ' '.repeat(widths[col]! - width);
        return ` ${colAligns[col] === 'right' ? fill + text : text + fill} `;
      });
      line(`│${drawn.join('│')}│`);
    }
  };
  line(rule('┌', '┬', '┐'));
  rowLines(head);
  line(rule('├', '┼', '┤'));
  for (let i = 0; i < count; i++) rowLines(rowAt(i));
  pending.push(rule('└', '┴', '┘'));
  write(pending.join('\n'));
}

function cellLines(cell: string): { text: string; width: number }[] {
  return cell.split('\n').map((text) => ({ text, width: displayWidth(text) }));
}

/** Columns a line takes on a terminal, as cli-table3 measures it (string-width 4): colour codes take none. */
export function displayWidth(text: string): number {
  const plain = stripVTControlCharacters(text);
  if (/^[\x20-\x7e]*$/.test(plain)) return plain.length;
  let width = 0;
  for (const char of plain.replace(EMOJI, '  ')) {
    const code = char.codePointAt(0)!;
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) continue; // control characters
    if (code >= 0x300 && code <= 0x36f) continue; // combining marks
    width += isFullwidth(code) ? 2 : 1;
  }
  return width;
}

/** An emoji, with its modifiers and joined parts: two columns (string-width 4 uses emoji-regex). */
const EMOJI = /\p{Extended_Pictographic}(?:\p{Emoji_Modifier}|\uFE0F|\u200D\p{Extended_Pictographic})*|\p{Regional_Indicator}{2}/gu;

/** East Asian wide and fullwidth characters (is-fullwidth-code-point 3, which string-width 4 uses). */
function isFullwidth(code: number): boolean {
  return (
    code >= 0x1100 &&
    (code <= 0x115f ||
      code === 0x2329 ||
      code === 0x232a ||
      (code >= 0x2e80 && code <= 0x3247 && code !== 0x303f) ||
      (code >= 0x3250 && code <= 0x4dbf) ||
      (code >= 0x4e00 && code <= 0xa4c6) ||
      (code >= 0xa960 && code <= 0xa97c) ||
      (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0xfe10 && code <= 0xfe19) ||
      (code >= 0xfe30 && code <= 0xfe6b) ||
      (code >= 0xff01 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6) ||
      (code >= 0x1b000 && code <= 0x1b001) ||
      (code >= 0x1f200 && code <= 0x1f251) ||
      (code >= 0x20000 && code <= 0x3fffd))
  );
}
