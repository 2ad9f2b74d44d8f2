package mail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The message parses back as MIME: headers, the body, and every attachment
// byte for byte, in base64 lines no longer than 76 characters.
func TestMessageParses(t *testing.T) {
	dir := t.TempDir()
	xmlData := []byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n<SearchResults>" + strings.Repeat(`<Event Operation="HardDelete" Subject="Grüße &amp; more"/>`, 500) + "</SearchResults>\n")
	csvData := []byte("a,b\n1,2\n")
	os.WriteFile(filepath.Join(dir, "r.xml"), xmlData, 0o600)
	os.WriteFile(filepath.Join(dir, "r.csv"), csvData, 0o600)
	m := &Message{To: []string{"legal@example.org", "ciso@example.org"}, Subject: `Mailbox audit log search "Prüfung" completed`,
		Body: "The search has completed.\nRecords found: 500\n",
		Attachments: []Attachment{{Name: "SearchResult.xml", ContentType: "application/xml", Path: filepath.Join(dir, "r.xml")},
			{Name: "SearchResult.csv", ContentType: "text/csv", Path: filepath.Join(dir, "r.csv")}}}
	var b bytes.Buffer
	if err := m.WriteTo(&b, "mailaudit@example.org"); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("a line of %d characters", len(line))
		}
	}
	msg, err := mail.ReadMessage(&b)
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	if subject != m.Subject || msg.Header.Get("To") != "legal@example.org, ciso@example.org" ||
		msg.Header.Get("From") != "mailaudit <mailaudit@example.org>" || msg.Header.Get("Message-Id") == "" {
		t.Errorf("headers: %v (subject %q)", msg.Header, subject)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %s: %v", mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	want := []struct {
		name string
		data []byte
	}{{"", []byte(m.Body)}, {"SearchResult.xml", xmlData}, {"SearchResult.csv", csvData}}
	for i, w := range want {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		raw, _ := io.ReadAll(p)
		for _, line := range strings.Split(strings.TrimRight(string(raw), "\r\n"), "\r\n") {
			if len(line) > 76 {
				t.Errorf("part %d: base64 line of %d characters", i, len(line))
				break
			}
		}
		got, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if !bytes.Equal(got, w.data) {
			t.Errorf("part %d differs", i)
		}
		if p.FileName() != w.name {
			t.Errorf("part %d: file name %q, want %q", i, p.FileName(), w.name)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more parts than sent: %v", err)
	}
}

// Failures name the relay and the step.
func TestSendFailures(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	err := (&Relay{Addr: addr, From: "a@example.org"}).Send(context.Background(), &Message{To: []string{"b@example.org"}})
	if err == nil || !strings.Contains(err.Error(), "connecting to relay "+addr) {
		t.Errorf("unreachable relay: %v", err)
	}
	err = (&Relay{Addr: "mx.example.org", From: "a@example.org"}).Send(context.Background(), &Message{})
	if err == nil || !strings.Contains(err.Error(), "is not host:port") {
		t.Errorf("bad address: %v", err)
	}
	// A relay that offers no STARTTLS when it is required: a minimal SMTP
	// peer that injects exactly that fault.
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "220 plain.example.org ESMTP\r\n")
		buf := make([]byte, 512)
		c.Read(buf) // EHLO
		io.WriteString(c, "250-plain.example.org\r\n250 8BITMIME\r\n")
		c.Read(buf)
	}()
	err = (&Relay{Addr: l.Addr().String(), From: "a@example.org", StartTLS: StartTLSRequired}).Send(context.Background(), &Message{To: []string{"b@example.org"}})
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Errorf("STARTTLS required: %v", err)
	}
}

// Size is what WriteTo writes, without reading the attachments.
func TestSize(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 2, 3, 56, 57, 58, 114, 1000, 65537} {
		path := filepath.Join(dir, "r.xml")
		os.WriteFile(path, bytes.Repeat([]byte("x"), n), 0o600)
		m := &Message{To: []string{"legal@example.org"}, Subject: "s", Body: "body\n",
			Attachments: []Attachment{{Name: "SearchResult.xml", ContentType: "application/xml", Path: path}}}
		var b bytes.Buffer
		if err := m.WriteTo(&b, "mailaudit@example.org"); err != nil {
			t.Fatal(err)
		}
		size, err := m.Size("mailaudit@example.org")
		if err != nil || size != int64(b.Len()) {
			t.Errorf("%d-byte attachment: Size %d (%v), WriteTo wrote %d", n, size, err, b.Len())
		}
	}
	if _, err := (&Message{Attachments: []Attachment{{Name: "x", Path: filepath.Join(dir, "gone")}}}).Size("a@example.org"); err == nil {
		t.Error("Size of a missing attachment")
	}
}

// faultRelay is an SMTP peer that answers each command with a scripted
// reply, for the refusals a real Postfix does not easily give; e2e sends
// through a real one.
type faultRelay struct {
	addr    string
	ehlo    []string          // the EHLO keywords it advertises
	replies map[string]string // by command verb (MAIL, RCPT, DATA, "." for the message)
}

func newFaultRelay(t *testing.T, ehlo []string, replies map[string]string) *faultRelay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &faultRelay{addr: l.Addr().String(), ehlo: ehlo, replies: replies}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *faultRelay) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func(verb, def string) {
		if s, ok := f.replies[verb]; ok {
			def = s
		}
		io.WriteString(c, def+"\r\n")
	}
	io.WriteString(c, "220 fault.example.org ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		if i := strings.IndexByte(verb, ':'); i >= 0 {
			verb = verb[:i]
		}
		switch verb {
		case "EHLO":
			lines := append([]string{"fault.example.org"}, f.ehlo...)
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				io.WriteString(c, "250"+sep+l+"\r\n")
			}
		case "DATA":
			if s, ok := f.replies["DATA"]; ok {
				io.WriteString(c, s+"\r\n")
				continue
			}
			io.WriteString(c, "354 go ahead\r\n")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			reply(".", "250 2.0.0 queued")
		case "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		default:
			reply(verb, "250 2.1.0 ok")
		}
	}
}

// Refusals are told apart: a 5xx is permanent, a 4xx is not, and so is a
// message larger than the relay's EHLO SIZE (also tested against a real
// Postfix in e2e, TestMailedSearchTLS, with a 552 to the message too).
func TestSendRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.xml")
	os.WriteFile(path, bytes.Repeat([]byte("<Event/>\n"), 2000), 0o600) // 18000 bytes, about 24400 encoded
	msg := &Message{To: []string{"legal@example.org"}, Subject: "s", Body: "b",
		Attachments: []Attachment{{Name: "SearchResult.xml", ContentType: "application/xml", Path: path}}}
	for _, tc := range []struct {
		name      string
		ehlo      []string
		replies   map[string]string
		permanent bool
		tooLarge  bool
		want      string
	}{
		{name: "accepted", ehlo: []string{"SIZE 1000000"}},
		{name: "larger than EHLO SIZE", ehlo: []string{"SIZE 10000"}, permanent: true, tooLarge: true, want: "takes at most 10000 (its EHLO SIZE)"},
		{name: "451 to MAIL", replies: map[string]string{"MAIL": "451 4.3.0 queue file write error"}, want: `MAIL FROM:<mailaudit@example.org>: 451 "4.3.0 queue file write error"`},
		{name: "421 to RCPT", replies: map[string]string{"RCPT": "421 4.7.0 too many errors"}, want: "refused recipient legal@example.org: 421"},
		{name: "554 to RCPT", replies: map[string]string{"RCPT": "554 5.7.1 relay access denied"}, permanent: true, want: `554 "5.7.1 relay access denied"`},
		{name: "554 to DATA", replies: map[string]string{"DATA": "554 5.5.1 no valid recipients"}, permanent: true, want: "DATA: 554"},
		{name: "550 to the message", replies: map[string]string{".": "550 5.7.1 content rejected"}, permanent: true, want: `did not accept the message: 550 "5.7.1 content rejected"`},
		{name: "452 to the message", replies: map[string]string{".": "452 4.3.1 insufficient system storage"}, want: `452 "4.3.1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFaultRelay(t, tc.ehlo, tc.replies)
			err := (&Relay{Addr: f.addr, From: "mailaudit@example.org", StartTLS: StartTLSNone}).Send(context.Background(), msg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			var big *TooLargeError
			if Permanent(err) != tc.permanent || errors.As(err, &big) != tc.tooLarge {
				t.Errorf("%v: permanent %t, too large %t; want permanent %t", err, Permanent(err), big != nil, tc.permanent)
			}
		})
	}
}

// A relay whose certificate mailaudit does not trust: the error says which
// setting to check.
func TestCertHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, "smtp.ca_cert"},
		{x509.HostnameError{Host: "relay.example.org"}, "not for relay.example.org"},
		{x509.CertificateInvalidError{Reason: x509.Expired}, "not valid"},
		{errors.New("EOF"), ""},
	} {
		if got := certHint(tc.err, "relay.example.org"); !strings.Contains(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("certHint(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
