import type { Privileges, ServerInfo, TableNames } from '../db/database.js';

/**
 * What stops repair on a server before it writes anything; shared by repair (which refuses up
 * front) and doctor (which reports it).
 */

export interface MissingGrant {
  privilege: 'UPDATE' | 'INSERT';
  table: string;
}

/** binlog_format=STATEMENT rejects the READ COMMITTED writes repair makes. */
export function binlogRejectsRepair(server: ServerInfo): boolean {
  return server.logBin && server.binlogFormat?.toUpperCase() === 'STATEMENT';
}

/** The writes repair needs and this user may not make: UPDATE on the settings, INSERT into an existing audit table. */
export function missingRepairGrants(privileges: Privileges, tables: Pick<TableNames, 'settings' | 'audit'>): MissingGrant[] {
  return [
    ...(privileges.update ? [] : [{ privilege: 'UPDATE' as const, table: tables.settings }]),
    ...(privileges.audit.exists && privileges.audit.insert === false ? [{ privilege: 'INSERT' as const, table: tables.audit }] : []),
  ];
}
