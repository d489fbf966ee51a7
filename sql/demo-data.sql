-- The demo's data set (coupon-audit demo): a few campaigns with every kind of drift the tool
-- finds, beside settings whose counters are right. Loaded after sql/schema.sql.
INSERT INTO g_coupon_settings (id, name, status, issuedCount, usedCount) VALUES
  (1, 'Welcome 10% (counters right)', 'ACTIVE', 4, 2),
  (2, 'Spring sale (codes deleted by hand: issued too high)', 'ACTIVE', 6, 1),
  (3, 'Partner batch (migration copied rows, not counters: too low)', 'ACTIVE', 1, 0),
  (4, 'Legacy import (NULL caches)', 'ACTIVE', NULL, NULL),
  (5, 'Refund storm (decremented past zero)', 'ACTIVE', 2, -1),
  (6, 'Revoked campaign (no codes left, counters kept)', 'ACTIVE', 3, 3),
  (7, 'Deleted campaign (counters kept after delete)', 'DELETED', 2, 1),
  (8, 'Rolled-back redeem (used too high)', 'PAUSED', 3, 2),
  (9, 'Empty campaign (counters right)', 'ACTIVE', 0, 0),
  (9007199254740993, 'Id past 2^53 (issued too high)', 'ACTIVE', 5, 0);

INSERT INTO g_coupons (settingId, code) VALUES
  (1, 'WELCOME-1'), (1, 'WELCOME-2'), (1, 'WELCOME-3'), (1, 'WELCOME-4'),
  (2, 'SPRING-1'), (2, 'SPRING-2'), (2, 'SPRING-3'),
  (3, 'PARTNER-1'), (3, 'PARTNER-2'), (3, 'PARTNER-3'), (3, 'PARTNER-4'),
  (4, 'LEGACY-1'), (4, 'LEGACY-2'),
  (5, 'REFUND-1'), (5, 'REFUND-2'),
  (8, 'REDEEM-1'), (8, 'REDEEM-2'), (8, 'REDEEM-3'),
  (9007199254740993, 'BIG-1'), (9007199254740993, 'BIG-2'),
  -- orphans: codes of a setting that no longer exists
  (404, 'ORPHAN-1'), (404, 'ORPHAN-2');

INSERT INTO g_coupon_uses (settingId, userId) VALUES
  (1, 'alice'), (1, 'bob'),
  (2, 'carol'),
  (3, 'dave'), (3, 'erin'),
  (4, 'frank'),
  (8, 'grace'),
  (404, 'heidi');
