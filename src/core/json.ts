/** JSON values for exact integers: a number while it is safe, a string past 2^53. */
export function jsonInteger(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

export function jsonIntegerOrNull(value: bigint | null): number | string | null {
  return value === null ? null : jsonInteger(value);
}
