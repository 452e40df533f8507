import { stripAnsi } from "./color.ts";

export interface Column {
  readonly header: string;
  /** The column that gives up width when the row is too wide (the reason); the last one by default. */
  readonly flex?: boolean;
  /** Cells are painted after fitting; the width is measured on the plain text. */
  readonly paint?: (cell: string, row: number) => string;
}

const ELLIPSIS = "…";
const GAP = "  ";

/**
 * Cuts text to at most `width` characters, ending in `…`: at the last word boundary when one is
 * near, so a reason is never cut mid-word when it need not be.
 */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 1) return width === 1 ? ELLIPSIS : "";
  const room = chars.slice(0, width - 1).join("");
  const space = chars[width - 1] === " " ? room.length : room.lastIndexOf(" ");
  const cut = space >= Math.floor(width / 2) ? room.slice(0, space) : room;
  return `${cut.trimEnd()}${ELLIPSIS}`;
}

/**
 * A table of one line per row that fits `width` columns: the flexible column is shortened, then
 * the others from the right, each cell cut with `…` (never wrapped). Without a width (a pipe) rows
 * keep their full text. Returns the lines, header first.
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  width?: number,
): string[] {
  const clean = rows.map((row) => row.map((cell) => stripAnsi(cell).replace(/\s*\n\s*/g, " ")));
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...clean.map((row) => [...(row[i] ?? "")].length)),
  );
  if (width !== undefined && width > 0) shrink(widths, columns, width);
  const line = (cells: readonly string[], paint: boolean, index: number) =>
    cells
      .map((cell, i) => {
        const fitted = truncate(cell, widths[i]!);
        const padded = i === cells.length - 1 ? fitted : fitted.padEnd(widths[i]!);
        const painter = paint ? columns[i]!.paint : undefined;
        return painter ? painter(fitted, index) + padded.slice(fitted.length) : padded;
      })
      .join(GAP)
      .trimEnd();
  return [
    line(
      columns.map((c) => c.header),
      false,
      -1,
    ),
    ...clean.map((row, index) => line(row, true, index)),
  ];
}

function shrink(widths: number[], columns: readonly Column[], width: number): void {
  const total = () => widths.reduce((sum, w) => sum + w, 0) + GAP.length * (widths.length - 1);
  const found = columns.findIndex((c) => c.flex);
  const flex = found >= 0 ? found : widths.length - 1;
  const order = [flex, ...widths.map((_, i) => widths.length - 1 - i).filter((i) => i !== flex)];
  for (const i of order) {
    const over = total() - width;
    if (over <= 0) return;
    const floor = Math.min(widths[i]!, Math.max(columns[i]!.header.length, 4));
    widths[i] = Math.max(floor, widths[i]! - over);
  }
}

/** The width to fit a table to: the terminal's, or none for a pipe or a file. */
export function terminalWidth(
  stream: { isTTY?: boolean | undefined; columns?: number | undefined },
  env: NodeJS.ProcessEnv = process.env,
): number | undefined {
  if (stream.isTTY && stream.columns) return stream.columns;
  const columns = Number(env.COLUMNS);
  return stream.isTTY && Number.isInteger(columns) && columns > 0 ? columns : undefined;
}
