-- The audit trail of coupon-audit repair: one row per counter it wrote, inserted in the same
-- transaction as the write. Created when missing; `--audit-table NAME` replaces the name.
-- oldValue is whatever the cache held: any value of a BIGINT UNSIGNED or DECIMAL(n, 0) counter;
-- settingId any id of a BIGINT UNSIGNED or DECIMAL(n, 0) key. newValue is a count of rows.
CREATE TABLE IF NOT EXISTS `coupon_audit_log` (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  runId       CHAR(36)        NOT NULL,
  settingId   DECIMAL(65, 0)  NOT NULL,
  counterName VARCHAR(64)     NOT NULL,
  oldValue    DECIMAL(65, 0)  NULL,
  newValue    BIGINT          NOT NULL,
  changedAt   TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  dbUser      VARCHAR(255)    NULL,
  PRIMARY KEY (id),
  KEY idx_coupon_audit_run (runId),
  KEY idx_coupon_audit_setting (settingId, changedAt)
) ENGINE = InnoDB;
