import { writeFileSync } from 'node:fs';

/**
 * Loaded with `node --import` into the coupon-audit process the benchmark starts: writes the
 * process's peak resident set size (KiB, from getrusage) to $COUPON_AUDIT_RSS_FILE as it exits.
 */
const target = process.env['COUPON_AUDIT_RSS_FILE'];
if (target !== undefined && target !== '') {
  process.on('exit', () => writeFileSync(target, String(process.resourceUsage().maxRSS)));
}
