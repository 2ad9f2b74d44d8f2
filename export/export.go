package export

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mailaudit/mailaudit/audit"
)

// formats in the order help texts list them: the views first, then the
// interchange formats.
var formats = []string{"table", "list", "json", "csv", "xml", "m365"}

// Formats returns the names New accepts.
func Formats() []string { return append([]string(nil), formats...) }

// Options for writers.
type Options struct {
	// OrganizationId is the installation's organisation GUID, written into
	// every JSON record. When it parses as a UUID, it also seeds the records'
	// Ids (audit.RecordID); otherwise records carry no Id.
	OrganizationId   string
	OrganizationName string
	// ShowDetails makes the list view show every field rather than the
	// summary, as Search-MailboxAuditLog -ShowDetails does.
	ShowDetails bool
	// Summary makes xml leave out each mailbox event's detail attributes
	// and its SourceItems, keeping who, when, what, where and from where:
	// a background search without ShowDetails. Other formats ignore it.
	Summary bool
}

// Writer writes records one by one. Close finishes the document (the XML
// root element, the table's pending rows); it does not close the underlying
// io.Writer, which belongs to the caller.
type Writer interface {
	Write(r *audit.Record) error
	Close() error
}

var (
	errClosed    = errors.New("export: write after Close")
	errNilRecord = errors.New("export: nil record")
)

// New returns a writer of the named format to w.
func New(format string, w io.Writer, opt Options) (Writer, error) {
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "table":
		return newTableWriter(w), nil
	case "list":
		return newListWriter(w, opt), nil
	case "json":
		return newJSONWriter(w, opt, timeRFC3339), nil
	case "csv":
		return newCSVWriter(w, opt), nil
	case "xml":
		return newXMLWriter(w, opt), nil
	case "m365":
		return newJSONWriter(w, opt, timeM365), nil
	}
	return nil, fmt.Errorf("unknown output format %q (known formats: %s)", format, strings.Join(formats, ", "))
}

// state is the bookkeeping every writer shares: whether the document has
// been started and finished.
type state struct {
	started, closed bool
}

func (s *state) check(r *audit.Record) error {
	if s.closed {
		return errClosed
	}
	if r == nil {
		return errNilRecord
	}
	return nil
}
