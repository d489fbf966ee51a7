/**
 * JSON values for exact integers (the README's "JSON report" rule, relied on by consumers): a JSON
 * number while it is a safe integer (|n| ≤ 2^53−1), a decimal string past that, as ids are.
 */
export function jsonInteger(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

export function jsonIntegerOrNull(value: bigint | null): number | string | null {
  return value === null ? null : jsonInteger(value);
}
