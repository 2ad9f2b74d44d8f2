package export

import (
	"bytes"
	"encoding/json"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/mailaudit/mailaudit/audit"
)

const (
	timeRFC3339 = time.RFC3339Nano
	// timeM365 is how the Management Activity API writes CreationTime: UTC
	// without a zone, to the second.
	timeM365 = "2006-01-02T15:04:05"
)

// mailboxJSON is a mailbox record on the wire. The field order is the
// order of the Management Activity API's schemas (common fields, then the
// mailbox, group, item and aggregated ones), so that output diffs and reads
// like Microsoft 365's.
type mailboxJSON struct {
	Id                     uuid.UUID `json:",omitzero"`
	RecordType             audit.RecordType
	CreationTime           string
	Operation              string
	OrganizationId         string `json:",omitempty"`
	OrganizationName       string `json:",omitempty"`
	ResultStatus           string `json:",omitempty"`
	UserId                 string `json:",omitempty"`
	UserKey                string `json:",omitempty"`
	UserType               int
	Version                int
	Workload               string
	ClientIP               string `json:",omitempty"`
	LogonType              audit.LogonType
	InternalLogonType      audit.LogonType
	LogonUserDisplayName   string    `json:",omitempty"`
	MailboxGuid            uuid.UUID `json:",omitzero"`
	MailboxOwnerUPN        string    `json:",omitempty"`
	ExternalAccess         bool
	ClientIPAddress        string                   `json:",omitempty"`
	ClientInfoString       string                   `json:",omitempty"`
	ClientProcessName      string                   `json:",omitempty"`
	ClientVersion          string                   `json:",omitempty"`
	ClientMachineName      string                   `json:",omitempty"`
	SessionId              string                   `json:",omitempty"`
	OriginatingServer      string                   `json:",omitempty"`
	Folder                 *audit.Folder            `json:",omitempty"`
	DestFolder             *audit.Folder            `json:",omitempty"`
	CrossMailboxOperation  *bool                    `json:",omitempty"`
	DestMailboxId          uuid.UUID                `json:",omitzero"`
	DestMailboxOwnerUPN    string                   `json:",omitempty"`
	AffectedItems          []audit.Item             `json:",omitempty"`
	Item                   *audit.Item              `json:",omitempty"`
	SendAsUserSmtp         string                   `json:",omitempty"`
	SendOnBehalfOfUserSmtp string                   `json:",omitempty"`
	Folders                []audit.AggregatedFolder `json:",omitempty"`
	OperationCount         int                      `json:",omitempty"`
	OperationProperties    []audit.NameValue        `json:",omitempty"`
	ObjectId               string                   `json:",omitempty"`
	SequenceNumber         int64                    `json:",omitempty"`
}

// adminJSON is an admin audit record on the wire: the Exchange Admin schema,
// which has no logon type because no mailbox was logged on to.
type adminJSON struct {
	Id                 uuid.UUID `json:",omitzero"`
	RecordType         audit.RecordType
	CreationTime       string
	Operation          string
	OrganizationId     string `json:",omitempty"`
	OrganizationName   string `json:",omitempty"`
	ResultStatus       string `json:",omitempty"`
	UserId             string `json:",omitempty"`
	UserKey            string `json:",omitempty"`
	UserType           int
	Version            int
	Workload           string
	ClientIP           string                   `json:",omitempty"`
	ObjectId           string                   `json:",omitempty"`
	Parameters         []audit.NameValue        `json:",omitempty"`
	ModifiedProperties []audit.ModifiedProperty `json:",omitempty"`
	ExternalAccess     bool
	OriginatingServer  string `json:",omitempty"`
	SequenceNumber     int64  `json:",omitempty"`
}

// encoder renders records as JSON, reusing its buffer and wire structs so
// that a long export allocates per record only what encoding/json must.
type encoder struct {
	opt    Options
	org    uuid.UUID
	hasOrg bool
	layout string
	buf    bytes.Buffer
	enc    *json.Encoder
	mbx    mailboxJSON
	adm    adminJSON
}

func newEncoder(opt Options, layout string) *encoder {
	e := &encoder{opt: opt, layout: layout}
	if org, err := uuid.Parse(opt.OrganizationId); err == nil {
		e.org, e.hasOrg = org, true
	}
	e.enc = json.NewEncoder(&e.buf)
	// Message ids and subjects are full of <, > and &; HTML escaping would
	// only make them unreadable, and nobody embeds this output in HTML.
	e.enc.SetEscapeHTML(false)
	return e
}

// encode returns the record's JSON object followed by a newline. The bytes
// are valid until the next call.
func (e *encoder) encode(r *audit.Record) ([]byte, error) {
	e.buf.Reset()
	var id uuid.UUID
	if e.hasOrg {
		id = audit.RecordID(e.org, r.SequenceNumber)
	}
	created := r.CreationTime.UTC().Format(e.layout)
	var err error
	if r.IsAdmin() {
		e.adm = adminJSON{
			Id:                 id,
			RecordType:         r.RecordType,
			CreationTime:       created,
			Operation:          r.Operation,
			OrganizationId:     e.opt.OrganizationId,
			OrganizationName:   e.opt.OrganizationName,
			ResultStatus:       r.ResultStatus,
			UserId:             r.UserId,
			UserKey:            r.UserKey,
			UserType:           r.UserType,
			Version:            1,
			Workload:           "Exchange",
			ClientIP:           r.ClientIPAddress,
			ObjectId:           r.ObjectId,
			Parameters:         r.Parameters,
			ModifiedProperties: r.ModifiedProperties,
			ExternalAccess:     r.ExternalAccess,
			OriginatingServer:  r.OriginatingServer,
			SequenceNumber:     r.SequenceNumber,
		}
		err = e.enc.Encode(&e.adm)
	} else {
		e.mbx = mailboxJSON{
			Id:                     id,
			RecordType:             r.RecordType,
			CreationTime:           created,
			Operation:              r.Operation,
			OrganizationId:         e.opt.OrganizationId,
			OrganizationName:       e.opt.OrganizationName,
			ResultStatus:           r.ResultStatus,
			UserId:                 r.UserId,
			UserKey:                r.UserKey,
			UserType:               r.UserType,
			Version:                1,
			Workload:               "Exchange",
			ClientIP:               r.ClientIPAddress,
			LogonType:              r.LogonType,
			InternalLogonType:      r.LogonType,
			LogonUserDisplayName:   r.LogonUserDisplayName,
			MailboxGuid:            r.MailboxGuid,
			MailboxOwnerUPN:        r.MailboxOwnerUPN,
			ExternalAccess:         r.ExternalAccess,
			ClientIPAddress:        r.ClientIPAddress,
			ClientInfoString:       r.ClientInfoString,
			ClientProcessName:      r.ClientProcessName,
			ClientVersion:          r.ClientVersion,
			ClientMachineName:      r.ClientMachineName,
			SessionId:              r.SessionId,
			OriginatingServer:      r.OriginatingServer,
			Folder:                 r.Folder,
			DestFolder:             r.DestFolder,
			DestMailboxId:          r.DestMailboxId,
			DestMailboxOwnerUPN:    r.DestMailboxOwnerUPN,
			AffectedItems:          r.AffectedItems,
			Item:                   r.Item,
			SendAsUserSmtp:         r.SendAsUserSmtp,
			SendOnBehalfOfUserSmtp: r.SendOnBehalfOfUserSmtp,
			Folders:                r.Folders,
			OperationCount:         r.OperationCount,
			OperationProperties:    r.OperationProperties,
			ObjectId:               r.ObjectId,
			SequenceNumber:         r.SequenceNumber,
		}
		// A group record answers "did this leave the mailbox?" even when
		// the answer is no; other records have no destination to ask about.
		if r.RecordType == audit.ExchangeItemGroup || r.CrossMailboxOperation {
			e.mbx.CrossMailboxOperation = &r.CrossMailboxOperation
		}
		err = e.enc.Encode(&e.mbx)
	}
	if err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

// JSON returns the JSON object of one record, as the json format writes it
// (without the newline).
func JSON(r *audit.Record, opt Options) ([]byte, error) {
	if r == nil {
		return nil, errNilRecord
	}
	b, err := newEncoder(opt, timeRFC3339).encode(r)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

// jsonWriter writes JSON Lines: the json and m365 formats.
type jsonWriter struct {
	state
	w   io.Writer
	enc *encoder
}

func newJSONWriter(w io.Writer, opt Options, layout string) *jsonWriter {
	return &jsonWriter{w: w, enc: newEncoder(opt, layout)}
}

func (jw *jsonWriter) Write(r *audit.Record) error {
	if err := jw.check(r); err != nil {
		return err
	}
	b, err := jw.enc.encode(r)
	if err != nil {
		return err
	}
	_, err = jw.w.Write(b)
	return err
}

func (jw *jsonWriter) Close() error {
	jw.closed = true
	return nil
}
