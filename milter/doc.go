// Package milter is mailaudit's Postfix source: a milter (Sendmail's mail
// filter protocol, github.com/emersion/go-milter) that sees every message
// submitted through the Postfix services it is configured on and reports who
// sent it as whom: Send, SendAs or SendOnBehalf (records.md, docs/postfix.md).
//
// It only observes. It asks Postfix for no actions, so Postfix will not let
// it change a message; it answers every message with "continue", which at
// the end of a message is Postfix's accept; and Postfix's
// milter_default_action = accept lets mail through when the milter is down,
// slow or broken. The daemon being stopped never stops mail.
//
// # The protocol
//
// Postfix speaks protocol 6 (milter_protocol). The milter negotiates no
// replies to connect, MAIL, RCPT, header, end-of-header and body events (so a
// message costs one round trip, at its end) and no HELO, DATA or unknown
// events. It reads these Postfix macros, from whichever stage sends them
// (postfix-config prints the macro settings):
//
//	{auth_authen}  the SASL login: the actor (UserId). No login: not audited
//	{auth_type}    the SASL mechanism (OperationProperties AuthMethod)
//	i              the queue id (SourceEventId; Postfix has it by the end of data)
//	j              myhostname (OriginatingServer unless hostname is configured)
//	{client_addr}  the client's address (ClientIPAddress); else the connect event's
//
// and the envelope (MAIL FROM, every RCPT TO), the first From, Sender,
// Message-ID and Subject headers, and the size of headers and body. On TCP
// it acknowledges at once what it reads (TCP_QUICKACK): the events Postfix
// expects no reply to come in small writes with Nagle's algorithm on, which
// delayed ACKs would hold up by tens of milliseconds.
//
// # What a message becomes
//
// One activity (Activity): Source "postfix", Operation SendAs of the From
// address, or SendOnBehalf of it when a Sender header names someone else;
// the engine turns a SendAs by the owner into Send, records a From that
// names no mailbox on the login's own mailbox (creating none for it), flags
// a Sender that is not the login, and records whether a delegate held the
// grant (audit/send.go). The item carries the Message-ID,
// the decoded subject and the size; OperationProperties carry QueueId,
// EnvelopeFrom, HeaderFrom, HeaderSender (when present), Recipients (the
// first 100, comma-separated), RecipientCount and AuthMethod.
//
// # The spool
//
// A message's activity is in the spool before the milter answers Postfix,
// on stable storage with the default durability (Disk): a crash right after
// the answer loses nothing that was answered. The spool is a
// directory of segment files named by a decimal sequence number:
//
//	0000000000000001.spool
//	0000000000000002.spool
//
// A segment is created full of zeros (8 MiB by default) under a temporary
// name (….spool.tmp), synced and renamed, so that writing records into it
// changes no file-system metadata. Records are appended as lines:
//
//	CCCCCCCC {"SourceEventId":"4Xq9…","Source":"postfix",…}\n
//
// where CCCCCCCC is the CRC-32C (Castagnoli) of the JSON, in lower-case hex,
// and the JSON is one activity as `mailaudit ingest` reads it (records.md).
// The records of a segment end at the first zero byte. Writes are made with
// O_DIRECT and O_DSYNC in whole 4096-byte blocks (the partly filled last
// block is rewritten with its old bytes unchanged, so a torn write cannot
// damage records already confirmed), one write for all the messages that
// arrived together; where the file system has no O_DIRECT (tmpfs) records
// are written with write(2) and fdatasync(2). With Device (durability
// "device" in the configuration) the writes are O_DIRECT without O_DSYNC: in
// the device, its cache not flushed (without O_DIRECT, write and fdatasync
// as for Disk). With Process ("process") they are written with write(2)
// alone: safe from a crash of the process, not of the machine.
//
// Each start writes a new segment after the existing ones. A feeder reads the
// segments in order and commits their activity to the store (at most every
// FeedInterval while busy) together with the position reached, saved under "milter:<spool directory>" as
// "SEGMENT:OFFSET" (the decimal segment number and the byte offset after the
// last committed record): the same transaction, so a crash re-reads at most
// what was not committed, and SourceEventId removes duplicates either way.
// Segments wholly committed are deleted. A record cut short (a crash in the
// middle of a write that was therefore never confirmed) or failing its
// checksum ends its segment's reading, and is logged.
package milter
