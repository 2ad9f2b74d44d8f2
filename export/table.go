package export

import (
	"bytes"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailaudit/mailaudit/audit"
)

var tableHeader = [...]string{
	"LastAccessed", "Operation", "OperationResult", "LogonType", "MailboxOwnerUPN",
	"LogonUserDisplayName", "FolderPathName", "ClientIPAddress", "ItemSubject",
}

type tableRow [len(tableHeader)]string

const (
	// tableBlock is how many rows size the columns: enough to see a
	// representative set of values, few enough to show the first screen
	// at once and to hold in memory.
	tableBlock = 100
	// tableMaxWidth keeps one long value (a deep folder path, a long
	// display name) from pushing the rest of every row off the screen.
	tableMaxWidth = 40
	tableGap      = "  "
)

// tableWriter writes the table view. It holds the first tableBlock rows to
// size the columns, then keeps those widths for the rest of the output.
type tableWriter struct {
	state
	w       io.Writer
	pending []tableRow
	width   [len(tableHeader)]int
	frozen  bool
	buf     bytes.Buffer
}

func newTableWriter(w io.Writer) *tableWriter { return &tableWriter{w: w} }

func (tw *tableWriter) Write(r *audit.Record) error {
	if err := tw.check(r); err != nil {
		return err
	}
	row := tableCells(r)
	if !tw.frozen {
		tw.pending = append(tw.pending, row)
		if len(tw.pending) < tableBlock {
			return nil
		}
		return tw.flushBlock()
	}
	tw.buf.Reset()
	tw.line(&row)
	_, err := tw.w.Write(tw.buf.Bytes())
	return err
}

func (tw *tableWriter) Close() error {
	if tw.closed {
		return nil
	}
	tw.closed = true
	if tw.frozen || len(tw.pending) == 0 {
		// No records, no table: like Format-Table, print nothing rather
		// than a header over nothing.
		return nil
	}
	return tw.flushBlock()
}

// flushBlock sizes the columns from the held rows and writes the header and
// those rows.
func (tw *tableWriter) flushBlock() error {
	for i, h := range tableHeader {
		w := utf8.RuneCountInString(h)
		for j := range tw.pending {
			w = max(w, utf8.RuneCountInString(tw.pending[j][i]))
		}
		tw.width[i] = min(w, max(tableMaxWidth, len(h)))
	}
	tw.frozen = true
	tw.buf.Reset()
	head := tableRow(tableHeader)
	tw.line(&head)
	var rule tableRow
	for i, h := range tableHeader {
		n := tw.width[i]
		if i == len(tableHeader)-1 {
			n = len(h)
		}
		rule[i] = strings.Repeat("-", n)
	}
	tw.line(&rule)
	for i := range tw.pending {
		tw.line(&tw.pending[i])
	}
	tw.pending = nil
	_, err := tw.w.Write(tw.buf.Bytes())
	return err
}

// line writes one row padded (or cut) to the column widths. The last column
// is neither: nothing follows it.
func (tw *tableWriter) line(row *tableRow) {
	b := &tw.buf
	start := b.Len()
	for i, cell := range row {
		if i == len(row)-1 {
			b.WriteString(cell)
			break
		}
		n := utf8.RuneCountInString(cell)
		if w := tw.width[i]; n > w {
			cell = truncate(cell, w)
			n = w
		}
		b.WriteString(cell)
		for ; n < tw.width[i]; n++ {
			b.WriteByte(' ')
		}
		b.WriteString(tableGap)
	}
	// Empty trailing cells would leave trailing blanks.
	trimmed := bytes.TrimRight(b.Bytes()[start:], " ")
	b.Truncate(start + len(trimmed))
	b.WriteByte('\n')
}

// truncate cuts s to w runes, the last of them an ellipsis.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := 0
	for i := range s {
		if n == w-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

func tableCells(r *audit.Record) tableRow {
	when := r.CreationTime.UTC().Format(time.RFC3339)
	if r.IsAdmin() {
		// The columns are the mailbox log's; an admin record puts the
		// object changed where the mailbox goes and the caller where the
		// logon user goes, as the xml format does.
		return tableRow{
			when, clean(r.Operation), clean(r.ResultStatus), "", clean(r.ObjectId),
			clean(r.UserId), "", clean(r.ClientIPAddress), "",
		}
	}
	return tableRow{
		when, clean(r.Operation), clean(r.ResultStatus), r.LogonType.String(), clean(r.MailboxOwnerUPN),
		clean(displayName(r)), clean(folderPath(r)), clean(r.ClientIPAddress), clean(itemSubject(r)),
	}
}

// displayName falls back to the account when a record (an imported one,
// say) has no display name, so the actor column is never blank.
func displayName(r *audit.Record) string {
	if r.LogonUserDisplayName != "" {
		return r.LogonUserDisplayName
	}
	return r.UserId
}
