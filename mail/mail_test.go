package mail

import (
	"bytes"
	"context"
	"encoding/base64"
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
