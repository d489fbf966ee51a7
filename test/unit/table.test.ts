import { Chalk } from 'chalk';
import Table from 'cli-table3';
import { describe, expect, it } from 'vitest';
import { displayWidth, TABLE_STYLE, tableText } from '../../src/cli/table.js';
import { drawn } from '../helpers/output.js';

/**
 * tableText (src/cli/table.ts) draws a long table itself: its lines must be the ones cli-table3
 * draws for the same rows, whatever the cells hold.
 */

const colour = new Chalk({ level: 1 });
const head = ['id', 'status', 'cached', 'Δ'].map((title) => colour.bold(title));
const aligns = ['right', 'left', 'right', 'right'] as const;

function byCliTable3(rows: string[][]): string {
  const table = new Table({ head: [...head], style: TABLE_STYLE, colAligns: [...aligns] });
  table.push(...rows);
  return table.toString();
}

/** Rows whose widest cells come late, coloured cells, and statuses in other scripts. */
function rowsOf(n: number, statuses: readonly string[] = ['ACTIVE', 'DELETED']): string[][] {
  return Array.from({ length: n }, (_, i) => [
    String(i === n - 3 ? 9007199254740993n : i + 1),
    statuses[i % statuses.length]!,
    colour.red(String((i * 37) % 1000)),
    colour.yellow(i % 5 === 0 ? 'NULL' : `+${i % 13}`),
  ]);
}

/** tableText over these rows, as one string; past `cliTable3MaxRows` rows drawn by the tool itself. */
const renderTable = (rows: string[][], cliTable3MaxRows?: number): string =>
  drawn(tableText(head, aligns, rows.length, (i) => rows[i]!, cliTable3MaxRows));

describe('tableText', () => {
  it.each([1, 2, 7, 40])('%i rows drawn here are the lines cli-table3 draws', (n) => {
    const rows = rowsOf(n);
    expect(renderTable(rows, 0)).toBe(byCliTable3(rows));
  });

  it.each([
    ['CJK, Hangul and fullwidth', ['有効', '활성', 'ＡＣＴＩＶＥ', 'ACTIVE']],
    ['combining marks and accents', ['DÉLETED', 'De\u0301leted', 'naïve']],
    ['emoji', ['🎟️ ACTIVE', '👍🏽', '🇰🇷', 'ok']],
    ['symbols that are one column, and unusual emoji sequences', ['✔ ACTIVE', '© ® ™ ‼ ↔ ☺ ❤ ⚠', '1️⃣', '🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}', '🏽', '🇰', '👍🏽\u200d👍']],
    ['an empty status and a NULL', ['', 'NULL']],
    ['a status over two lines', ['ACTIVE', 'two\nlines', 'x']],
  ])('cells with %s are as wide as cli-table3 makes them', (_, statuses) => {
    const rows = rowsOf(9, statuses);
    expect(renderTable(rows, 0)).toBe(byCliTable3(rows));
  });

  it('hands a table of up to the threshold to cli-table3, and draws a longer one with the same lines', () => {
    const rows = rowsOf(250);
    const text = renderTable(rows);
    expect(text).toBe(byCliTable3(rows));
    expect(text.split('\n')).toHaveLength(250 + 4); // top, head, line under it, rows, bottom
  });

  it('draws 150,000 rows in pieces, measuring each row twice and keeping none (a spread of that many widths overflowed the stack)', () => {
    const pieces: string[] = [];
    let calls = 0;
    const rowAt = (i: number): string[] => {
      calls += 1;
      return [String(i + 1), i === 149_999 ? 'THE LONGEST STATUS' : 'ACTIVE', '1', '+1'];
    };
    for (const piece of tableText(head, aligns, 150_000, rowAt)) pieces.push(piece);
    const lines = pieces.join('').split('\n');
    expect(lines).toHaveLength(150_000 + 4);
    expect(new Set(lines.map((line) => displayWidth(line))).size).toBe(1); // every line as wide: the widest status counted
    expect(lines[150_002]).toContain('│ THE LONGEST STATUS │');
    expect(calls).toBe(300_000);
    expect(pieces.length).toBeGreaterThan(50);
  });

  it('displayWidth: colour codes take no column, wide characters two', () => {
    expect(displayWidth(colour.red('12'))).toBe(2);
    expect(displayWidth('有効')).toBe(4);
    expect(displayWidth('e\u0301')).toBe(1);
  });
});
