package export

import (
	"bytes"
	"io"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/mailaudit/mailaudit/audit"
)

// xmlWriter writes Exchange's SearchResult.xml.
//
// It writes the markup itself rather than through xml.Encoder because the
// encoder cannot write the self-closing <SourceItem .../> of Exchange's
// format and escapes quotes as &#34;, which is harder to read; xmlEscape
// is tested against encoding/xml's decoder instead.
type xmlWriter struct {
	state
	w       io.Writer
	summary bool
	buf     bytes.Buffer
}

func newXMLWriter(w io.Writer, opt Options) *xmlWriter { return &xmlWriter{w: w, summary: opt.Summary} }

const xmlProlog = `<?xml version="1.0" encoding="utf-8"?>` + "\n<SearchResults>\n"

func (xw *xmlWriter) Write(r *audit.Record) error {
	if err := xw.check(r); err != nil {
		return err
	}
	b := &xw.buf
	b.Reset()
	if !xw.started {
		// The prolog goes with the first record, not into New, so that
		// creating a writer does no I/O.
		b.WriteString(xmlProlog)
		xw.started = true
	}
	if r.IsAdmin() {
		xw.admin(r)
	} else {
		xw.mailbox(r)
	}
	_, err := xw.w.Write(b.Bytes())
	return err
}

func (xw *xmlWriter) mailbox(r *audit.Record) {
	b := &xw.buf
	b.WriteString("  <Event")
	guid := ""
	if r.MailboxGuid != uuid.Nil {
		guid = r.MailboxGuid.String()
	}
	attr(b, "MailboxGuid", guid)
	attr(b, "Owner", r.MailboxOwnerUPN)
	attr(b, "LastAccessed", r.CreationTime.UTC().Format(time.RFC3339Nano))
	attr(b, "Operation", r.Operation)
	attr(b, "OperationResult", r.ResultStatus)
	attr(b, "LogonType", r.LogonType.String())
	folder := r.Folder
	if folder == nil && len(r.Folders) > 0 {
		// An aggregated record names its folders in Folders.
		folder = &audit.Folder{Id: r.Folders[0].Id, Path: r.Folders[0].Path}
	}
	if !xw.summary {
		attr(b, "FolderId", folderID(folder))
	}
	path := ""
	if folder != nil {
		path = folder.Path
	}
	attr(b, "FolderPathName", path)
	attr(b, "ClientInfoString", r.ClientInfoString)
	attr(b, "ClientIPAddress", r.ClientIPAddress)
	if xw.summary {
		// The summary: no ids, no SIDs, no items.
		attr(b, "MailboxOwnerUPN", r.MailboxOwnerUPN)
		attr(b, "LogonUserDN", r.LogonUserDisplayName)
		b.WriteString("/>\n")
		return
	}
	attr(b, "InternalLogonType", r.LogonType.String())
	attr(b, "MailboxOwnerUPN", r.MailboxOwnerUPN)
	// This system knows no SIDs; the attributes stay, empty, for readers
	// that expect Exchange's full set.
	attr(b, "MailboxOwnerSid", "")
	cross := "false"
	if r.CrossMailboxOperation {
		cross = "true"
	}
	attr(b, "CrossMailboxOperation", cross)
	attr(b, "LogonUserDN", r.LogonUserDisplayName)
	attr(b, "LogonUserSid", "")
	open := false
	for it, folder := range sourceItems(r) {
		if !open {
			b.WriteString(">\n    <SourceItems>\n")
			open = true
		}
		b.WriteString("      <SourceItem")
		attr(b, "Id", it.Id)
		attr(b, "Subject", it.Subject)
		attr(b, "FolderPathName", folder)
		// Aggregated records often know an item only by its message id,
		// which Exchange's format has no attribute for.
		if it.InternetMessageId != "" {
			attr(b, "InternetMessageId", it.InternetMessageId)
		}
		b.WriteString("/>\n")
	}
	if open {
		b.WriteString("    </SourceItems>\n  </Event>\n")
	} else {
		b.WriteString("/>\n")
	}
}

// admin writes an admin audit record with the attributes a mailbox event
// has where they have a meaning (the object changed stands in the Owner's
// place, the caller in the logon user's), and the command's parameters and
// changes as Exchange's admin audit log report lists them.
func (xw *xmlWriter) admin(r *audit.Record) {
	b := &xw.buf
	b.WriteString("  <Event")
	attr(b, "Owner", r.ObjectId)
	attr(b, "LastAccessed", r.CreationTime.UTC().Format(time.RFC3339Nano))
	attr(b, "Operation", r.Operation)
	attr(b, "OperationResult", r.ResultStatus)
	attr(b, "LogonUserDN", r.UserId)
	if len(r.Parameters) == 0 && len(r.ModifiedProperties) == 0 {
		b.WriteString("/>\n")
		return
	}
	b.WriteString(">\n")
	if len(r.Parameters) > 0 {
		b.WriteString("    <CmdletParameters>\n")
		for _, p := range r.Parameters {
			b.WriteString("      <Parameter")
			attr(b, "Name", p.Name)
			attr(b, "Value", p.Value)
			b.WriteString("/>\n")
		}
		b.WriteString("    </CmdletParameters>\n")
	}
	if len(r.ModifiedProperties) > 0 {
		b.WriteString("    <ModifiedProperties>\n")
		for _, p := range r.ModifiedProperties {
			b.WriteString("      <Property")
			attr(b, "Name", p.Name)
			attr(b, "OldValue", p.OldValue)
			attr(b, "NewValue", p.NewValue)
			b.WriteString("/>\n")
		}
		b.WriteString("    </ModifiedProperties>\n")
	}
	b.WriteString("  </Event>\n")
}

func (xw *xmlWriter) Close() error {
	if xw.closed {
		return nil
	}
	xw.closed = true
	doc := "</SearchResults>\n"
	if !xw.started {
		doc = xmlProlog + doc
	}
	_, err := io.WriteString(xw.w, doc)
	return err
}

// attr writes ` name="value"`.
func attr(b *bytes.Buffer, name, value string) {
	b.WriteByte(' ')
	b.WriteString(name)
	b.WriteString(`="`)
	xmlEscape(b, value)
	b.WriteByte('"')
}

// xmlEscape writes s as the content of a double-quoted attribute value.
// Tabs and line breaks become character references, because a parser would
// otherwise normalise them to spaces; characters XML 1.0 cannot represent
// at all, not even as references, become U+FFFD.
func xmlEscape(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '"':
			esc = "&quot;"
		case r == '\t':
			esc = "&#x9;"
		case r == '\n':
			esc = "&#xA;"
		case r == '\r':
			esc = "&#xD;"
		case r == utf8.RuneError && n == 1, !xmlChar(r):
			esc = "\uFFFD"
		default:
			i += n
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		i += n
		last = i
	}
	b.WriteString(s[last:])
}

// xmlChar reports whether r is in XML 1.0's Char production.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
