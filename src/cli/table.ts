import Table from 'cli-table3';
import stringWidth from 'string-width';
import { inPieces } from './pieces.js';

/**
 * cli-table3 options every table shares: no colour of its own (it would colour head and borders even
 * on a pipe; cells are coloured with our chalk), and `compact`: a line under the header, none
 * between rows.
 */
export const TABLE_STYLE = { head: [] as string[], border: [] as string[], compact: true };

export type ColumnAlign = 'left' | 'right';

/** Past this many rows tableText draws the table itself. */
const CLI_TABLE3_MAX_ROWS = 200;

/**
 * A compact table (TABLE_STYLE), without a newline at the end, as pieces of about 64 KiB, each made
 * when it is asked for (pieces.ts writePieces); `rowAt(i)` gives row i's cells, and is called twice
 * per row (widths, then lines), so no row is kept. Cells hold no escape codes but chalk's, which open
 * and close on one line (a status from the database comes through drift-report.ts printable).
 * cli-table3 draws a table of up to `cliTable3MaxRows` rows; a longer one is drawn here, with the
 * same characters, widths and alignment (test/unit/table.test.ts compares the two), because
 * cli-table3 costs about 18 µs per cell (its per-cell option merging and a fresh emoji regex per
 * width) and lays a table out in time quadratic in its rows (layout-manager.js fillInTable): 12,000
 * drifted settings took 28 s of CPU.
 */
export function* tableText(
  head: readonly string[],
  colAligns: readonly ColumnAlign[],
  count: number,
  rowAt: (i: number) => readonly string[],
  cliTable3MaxRows = CLI_TABLE3_MAX_ROWS,
): Generator<string, void, undefined> {
  if (count <= cliTable3MaxRows) {
    const table = new Table({ head: [...head], style: TABLE_STYLE, colAligns: [...colAligns] });
    for (let i = 0; i < count; i++) table.push([...rowAt(i)]);
    yield table.toString();
    return;
  }
  // Each row is drawn as one string joined from its parts, and a cell of one line (nearly every
  // cell) is measured and padded without being split: 12,000 drifted settings (the 1.2M-settings
  // bench's check) took 165-180 ms drawn line by line through a generator per row, 105-115 ms so.
  const widths = head.map(() => 0);
  const measure = (row: readonly string[]): void => {
    for (let col = 0; col < widths.length; col++) {
      const cell = row[col] ?? '';
      if (!cell.includes('\n')) widths[col] = Math.max(widths[col]!, displayWidth(cell));
      else for (const line of cellLines(cell)) widths[col] = Math.max(widths[col]!, line.width);
    }
  };
  measure(head);
  for (let i = 0; i < count; i++) measure(rowAt(i));
  const rule = (left: string, mid: string, right: string): string => left + widths.map((width) => '─'.repeat(width + 2)).join(mid) + right;
  const pad = (text: string, width: number, col: number): string => {
    const fill = ' '.repeat(widths[col]! - width);
    return ` ${colAligns[col] === 'right' ? fill + text : text + fill} `;
  };
  const drawRow = (row: readonly string[]): string => {
    if (!row.some((cell) => (cell ?? '').includes('\n'))) {
      const parts = ['│'];
      for (let col = 0; col < widths.length; col++) {
        const text = row[col] ?? '';
        parts.push(pad(text, displayWidth(text), col), '│');
      }
      parts.push('\n');
      return parts.join('');
    }
    const cells = head.map((_, col) => cellLines(row[col] ?? ''));
    const height = Math.max(...cells.map((lines) => lines.length));
    let text = '';
    for (let k = 0; k < height; k++) {
      const drawn = cells.map((lines, col) => {
        const { text, width } = lines[k] ?? { text: '', width: 0 };
        return pad(text, width, col);
      });
      text += `│${drawn.join('│')}│\n`;
    }
    return text;
  };
  function* lines(): Generator<string, void, undefined> {
    yield `${rule('┌', '┬', '┐')}\n`;
    yield drawRow(head);
    yield `${rule('├', '┼', '┤')}\n`;
    for (let i = 0; i < count; i++) yield drawRow(rowAt(i));
    yield rule('└', '┴', '┘');
  }
  yield* inPieces(lines());
}

function cellLines(cell: string): { text: string; width: number }[] {
  return cell.split('\n').map((text) => ({ text, width: displayWidth(text) }));
}

/**
 * Columns a line takes on a terminal, as cli-table3 measures it (utils.js strlen): its colour codes
 * removed, then string-width 4, the package and major version cli-table3 uses (East Asian wide
 * characters and emoji two columns); printable ASCII, nearly every cell, is counted directly.
 */
export function displayWidth(text: string): number {
  // Printable ASCII holds no escape code (ESC is a control character): nothing to remove.
  if (PRINTABLE_ASCII.test(text)) return text.length;
  const plain = text.replace(/\u001b\[(?:\d*;){0,5}\d*m/g, '');
  return PRINTABLE_ASCII.test(plain) ? plain.length : stringWidth(plain);
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
