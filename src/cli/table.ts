import { stripVTControlCharacters } from 'node:util';
import Table from 'cli-table3';

/**
 * cli-table3 options every table shares: no colour of its own (it would colour head and borders even
 * on a pipe; cells are coloured with our chalk), and `compact`: a line under the header, none
 * between rows.
 */
export const TABLE_STYLE = { head: [] as string[], border: [] as string[], compact: true };

export type ColumnAlign = 'left' | 'right';

/** Past this many rows renderTable draws the table itself. */
const CLI_TABLE3_MAX_ROWS = 200;

/**
 * A compact table (TABLE_STYLE). cli-table3 draws it up to `cliTable3MaxRows` rows; a longer one is
 * drawn here, with the same characters, widths and alignment (test/unit/table.test.ts compares the
 * two), because cli-table3 costs about 18 µs per cell (its per-cell option merging and a fresh
 * emoji regex per width) and lays a table out in time quadratic in its rows (layout-manager.js
 * fillInTable): 12,000 drifted settings took 28 s of CPU to print.
 */
export function renderTable(head: readonly string[], colAligns: readonly ColumnAlign[], rows: readonly (readonly string[])[], cliTable3MaxRows = CLI_TABLE3_MAX_ROWS): string {
  if (rows.length <= cliTable3MaxRows) {
    const table = new Table({ head: [...head], style: TABLE_STYLE, colAligns: [...colAligns] });
    table.push(...rows.map((row) => [...row]));
    return table.toString();
  }
  const grid = [head, ...rows].map((row) => head.map((_, col) => cellLines(row[col] ?? '')));
  const widths = head.map((_, col) => Math.max(...grid.map((row) => Math.max(...row[col]!.map((line) => line.width)))) + 2);
  const rule = (left: string, mid: string, right: string): string => left + widths.map((width) => '─'.repeat(width)).join(mid) + right;
  const out = [rule('┌', '┬', '┐')];
  grid.forEach((row, r) => {
    const height = Math.max(...row.map((lines) => lines.length));
    for (let k = 0; k < height; k++) {
      const cells = row.map((lines, col) => {
        const line = lines[k] ?? { text: '', width: 0 };
        const fill = ' '.repeat(widths[col]! - 2 - line.width);
        return ` ${colAligns[col] === 'right' ? fill + line.text : line.text + fill} `;
      });
      out.push(`│${cells.join('│')}│`);
    }
    if (r === 0) out.push(rule('├', '┼', '┤'));
  });
  out.push(rule('└', '┴', '┘'));
  return out.join('\n');
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
