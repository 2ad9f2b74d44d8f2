// Package export writes audit records in the formats people and programs
// already read Exchange audit data in, so that nothing downstream (SIEM
// parsers, spreadsheets, scripts written for Exchange) needs to learn a new
// shape.
//
// Every writer streams: Write renders one record and hands it to the
// underlying io.Writer in a single Write call before returning, so memory does
// not grow with the number of records, a reader following the output (tail -f,
// a pipe into a SIEM shipper) sees each record as soon as it exists, and an
// I/O error surfaces on the record that caused it. The writers do not buffer
// across records; callers writing large exports to a file should wrap it in a
// bufio.Writer. The one exception is table, which holds its first block of
// rows to size the columns (see below).
//
// The formats:
//
//   - json: JSON Lines, one object per record, in the field names and shape of
//     the Office 365 Management Activity API's Exchange schemas
//     (shared/spec/records.md), fields in a fixed order, empty ones left out.
//     CreationTime is UTC RFC 3339 with as many fractional digits as it has.
//     Mailbox records always carry LogonType, InternalLogonType and
//     ExternalAccess, as Microsoft 365's do, because "0" (Owner) and "false"
//     are answers an investigator filters on; group records always carry
//     CrossMailboxOperation for the same reason. ClientIP repeats
//     ClientIPAddress because SIEM parsers read the common schema's name.
//     Source and SourceEventId stay out: they are this installation's
//     provenance, not part of the schema (the detailed list shows them).
//
//   - m365: json with CreationTime zone-less and to the second
//     (2026-11-22T10:00:00), as the Management Activity API writes it, for
//     parsers that were written against that API and nothing else.
//
//   - csv: the Microsoft 365 audit log search export, CreationDate, UserIds,
//     Operations, AuditData, where AuditData is the record's json object.
//     Quoting is RFC 4180 (encoding/csv); lines end in LF.
//
//   - xml: Exchange's SearchResult.xml (New-MailboxAuditLogSearch):
//     <SearchResults> holding one <Event> per record, its attributes named as
//     Exchange names them and its items in <SourceItems>. Exchange's own sample
//     is not well-formed; this one is: every value is escaped, line breaks in
//     attribute values are kept as character references, and characters XML
//     1.0 cannot carry at all (most control characters, invalid UTF-8) become
//     U+FFFD. Admin audit records carry their parameters and modified
//     properties as <CmdletParameters> and <ModifiedProperties>, the element
//     names of Exchange's admin audit log report. Options.Summary (a
//     background search without ShowDetails) leaves out a mailbox event's
//     ids, SIDs and SourceItems.
//
//   - table: one line per record under a header, in the columns an Exchange
//     administrator knows from Search-MailboxAuditLog. Column widths come
//     from the first 100 rows and are then kept, as PowerShell's Format-Table
//     does, so that a long export reads as one table rather than a series of
//     differently aligned ones; a later value too wide for its column is cut
//     with "…". The last column (ItemSubject) is never cut.
//
//   - list: Format-List style blocks of "Name : Value" lines, one block per
//     record, blocks separated by a blank line. Options.ShowDetails chooses
//     between the summary fields and all fields (Search-MailboxAuditLog
//     -ShowDetails). Values with several entries (the items of a record) put
//     one entry per line, aligned under the first.
//
// The human-readable views (table, list) replace line breaks and tabs with
// spaces and other control and bidirectional-override characters with U+FFFD,
// because subjects and client strings come from outside and must not be able
// to forge lines or reorder what a terminal shows.
package export
