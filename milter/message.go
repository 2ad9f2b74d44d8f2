package milter

import (
	"errors"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mailaudit/mailaudit/audit"
)

// SourceName is the activity Source of everything the milter reports.
const SourceName = "postfix"

// maxRecipients caps the recipients listed in an activity, so that a message
// to a mailing list's ten thousand addresses still makes a small record; the
// count is always complete.
const maxRecipients = 100

// maxField caps a header value kept in an activity (Subject, From): a
// malicious client must not be able to make a record of megabytes.
const maxField = 4096

// Message is what the milter saw of one submitted message: the facts Postfix
// passed, before any interpretation.
type Message struct {
	// At is when the message was complete (end of data).
	At time.Time
	// Login is the SASL login ({auth_authen}); empty when the client did
	// not authenticate.
	Login string
	// AuthType is the SASL mechanism ({auth_type}).
	AuthType string
	// ClientAddr is the SMTP client's IP address.
	ClientAddr string
	// QueueId is Postfix's queue id ({i}).
	QueueId string
	// Server is Postfix's myhostname ({j}).
	Server string
	// EnvelopeFrom is the MAIL FROM address, without the angle brackets
	// (empty for a null sender).
	EnvelopeFrom string
	Recipients   []string
	// From, Sender, MessageId and Subject are the first header of each
	// name, as sent (Subject still RFC 2047-encoded).
	From, Sender, MessageId, Subject string
	// Size is the message in bytes as Postfix passed it to the milter:
	// headers and body, CRLF line ends, before Postfix adds its Received
	// header.
	Size int64
}

// ErrUnauthenticated is returned for a message without a SASL login: mail
// from other servers, or a submission service without SASL. Nobody sent it
// as a mailbox of this installation, so it is not audited.
var ErrUnauthenticated = errors.New("no SASL login: not a submission, not audited")

// Activity turns a message into the activity it means (records.md): the
// mailbox is the one named by From (the envelope sender when there is no
// From header), the actor is the login, and the operation is what the
// headers say:
//
//   - a Sender header naming someone other than From: SendOnBehalf of From;
//   - otherwise: SendAs From.
//
// Whether the login owns From, whether From is a mailbox at all and whether
// the Sender is the login are the directory's business, not the source's:
// the engine turns a SendAs by the owner into her Send, records a From that
// is no mailbox on the login's own mailbox, compares the Sender with the
// login, and checks grants (audit/send.go). hostname, when set, is the
// OriginatingServer; otherwise Postfix's myhostname is.
func Activity(m *Message, hostname string) (*audit.Activity, error) {
	login := strings.TrimSpace(m.Login)
	if login == "" {
		return nil, ErrUnauthenticated
	}
	from := firstAddress(m.From)
	if from == "" {
		from = strings.TrimSpace(m.EnvelopeFrom)
	}
	if from == "" {
		// A bounce-like null sender with no From: the login sends as
		// itself.
		from = login
	}
	sender := firstAddress(m.Sender)
	a := &audit.Activity{
		SourceEventId:     m.QueueId,
		Source:            SourceName,
		CreationTime:      audit.Time{Time: m.At.UTC()},
		UserId:            login,
		MailboxOwnerUPN:   from,
		ClientIPAddress:   m.ClientAddr,
		ClientInfoString:  "Client=SMTP",
		OriginatingServer: m.Server,
		Items: []audit.Item{{
			InternetMessageId: clip(strings.TrimSpace(m.MessageId)),
			Subject:           clip(decodeHeader(m.Subject)),
			SizeInBytes:       m.Size,
		}},
	}
	if hostname != "" {
		a.OriginatingServer = hostname
	}
	if a.SourceEventId == "" {
		// Postfix always has a queue id by the end of data; without the {i}
		// macro (a milter_end_of_data_macros without it) the record still
		// needs a unique id. The spool keeps the line, so re-reading it after
		// a crash still finds the same id.
		a.SourceEventId = "noqueueid-" + uuid.NewString()
	}
	if sender != "" && !strings.EqualFold(sender, from) {
		a.Operation = audit.SendOnBehalf
		a.SendOnBehalfOfUserSmtp = from
	} else {
		a.Operation = audit.SendAs
		a.SendAsUserSmtp = from
	}
	props := []audit.NameValue{
		{Name: "QueueId", Value: m.QueueId},
		{Name: "EnvelopeFrom", Value: m.EnvelopeFrom},
		{Name: "HeaderFrom", Value: clip(firstAddress(m.From))},
	}
	if sender != "" {
		props = append(props, audit.NameValue{Name: audit.PropHeaderSender, Value: clip(sender)})
	}
	rcpts := m.Recipients
	more := ""
	if len(rcpts) > maxRecipients {
		rcpts, more = rcpts[:maxRecipients], ",…"
	}
	props = append(props,
		audit.NameValue{Name: "Recipients", Value: strings.Join(rcpts, ",") + more},
		audit.NameValue{Name: "RecipientCount", Value: strconv.Itoa(len(m.Recipients))},
	)
	if m.AuthType != "" {
		props = append(props, audit.NameValue{Name: "AuthMethod", Value: m.AuthType})
	}
	a.OperationProperties = props
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// firstAddress is the first address of an address-list header ("Alice
// <alice@example.org>, bob@example.org" → alice@example.org). A header that
// net/mail cannot parse (clients do send such) is read leniently: the first
// <…>, else the first word with an @.
func firstAddress(h string) string {
	h = strings.TrimSpace(h)
	if h == "" {
		return ""
	}
	if list, err := mail.ParseAddressList(h); err == nil && len(list) > 0 {
		return list[0].Address
	}
	if i := strings.IndexByte(h, '<'); i >= 0 {
		if j := strings.IndexByte(h[i:], '>'); j > 0 {
			return strings.TrimSpace(h[i+1 : i+j])
		}
	}
	for _, w := range strings.FieldsFunc(h, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '\t' }) {
		if strings.Contains(w, "@") {
			return strings.Trim(w, `"'()`)
		}
	}
	return clip(h)
}

var wordDecoder = &mime.WordDecoder{}

// decodeHeader decodes RFC 2047 encoded words (=?UTF-8?B?…?=); a header it
// cannot decode is kept as sent.
func decodeHeader(s string) string {
	s = strings.TrimSpace(s)
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	cut := maxField
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not in the middle of a UTF-8 character
		cut--
	}
	return s[:cut] + "…"
}
