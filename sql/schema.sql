-- The coupon system's three tables, as the application has them (plus columns it does not
-- touch). Used by the tests and the demo. coupon-audit itself relies only on
-- g_coupon_settings(id, status, issuedCount, usedCount) and settingId in the two child tables.
CREATE TABLE IF NOT EXISTS g_coupon_settings (
  id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name             VARCHAR(191)    NOT NULL DEFAULT '',
  status           VARCHAR(16)     NOT NULL DEFAULT 'ACTIVE',
  generationStatus VARCHAR(16)     NOT NULL DEFAULT 'COMPLETED',
  issuedCount      INT             NULL DEFAULT 0,
  usedCount        INT             NULL DEFAULT 0,
  createdAt        DATETIME        NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updatedAt        DATETIME        NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_g_coupon_settings_status (status)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS g_coupons (
  id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  settingId BIGINT UNSIGNED NOT NULL,
  code      VARCHAR(64)     NOT NULL,
  status    VARCHAR(16)     NOT NULL DEFAULT 'ISSUED',
  createdAt DATETIME        NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_g_coupons_code (code),
  KEY idx_g_coupons_setting (settingId)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS g_coupon_uses (
  id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  settingId BIGINT UNSIGNED NOT NULL,
  couponId  BIGINT UNSIGNED NULL,
  userId    VARCHAR(64)     NOT NULL DEFAULT '',
  usedAt    DATETIME        NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_g_coupon_uses_setting (settingId, usedAt)
) ENGINE = InnoDB;
