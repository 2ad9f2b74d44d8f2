// Package mail sends mailaudit's own mail (background search results)
// through an SMTP relay, with STARTTLS and authentication, wrapping net/smtp.
//
// A Message is written as MIME (RFC 2045/2046): multipart/mixed with a
// text/plain part and each attachment base64-encoded in 76-character lines.
// Attachments are read from their files while the message is sent, so a large
// result never sits in memory.
//
// Failures are told apart as a sender must (RFC 5321 §4.2.1): Permanent is a
// 5xx reply, which the same mail would get again; TooLargeError is a message
// bigger than the relay takes, by its EHLO SIZE (RFC 1870) before anything
// is sent, or by a 552 / 5.3.4 reply to the message; anything else (4xx, a
// connection or TLS failure) may pass on a later attempt.
package mail

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// StartTLS modes.
const (
	// StartTLSRequired refuses a relay that does not offer STARTTLS.
	StartTLSRequired = "required"
	// StartTLSOpportunistic uses STARTTLS when the relay offers it.
	StartTLSOpportunistic = "opportunistic"
	// StartTLSNone never uses it (a relay on loopback).
	StartTLSNone = "none"
)

// Relay is an SMTP relay to send through.
type Relay struct {
	// Addr is host:port.
	Addr string
	// From is the envelope sender and the From header.
	From string
	// Username and Password authenticate with AUTH PLAIN, which net/smtp
	// only sends over TLS or to localhost.
	Username, Password string
	// StartTLS is one of the StartTLS modes (default opportunistic).
	StartTLS string
	// TLS configures STARTTLS (a private CA); nil uses the system's roots.
	TLS *tls.Config
	// Timeout bounds the whole conversation (default 2 minutes).
	Timeout time.Duration
	// Hostname is what mailaudit says in EHLO (default "localhost").
	Hostname string
}

// Attachment is a file attached to a message.
type Attachment struct {
	Name        string // as the recipient sees it: SearchResult.xml
	ContentType string
	Path        string // read while sending
}

// Message is one mail.
type Message struct {
	To          []string
	Subject     string
	Body        string
	Attachments []Attachment
}

// Send sends m. The error says which step failed: connecting, STARTTLS,
// authentication, a refused recipient, or the message itself.
func (r *Relay) Send(ctx context.Context, m *Message) (err error) {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return fmt.Errorf("mail: relay %q is not host:port", r.Addr)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return fmt.Errorf("mail: connecting to relay %s: %w", r.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail: relay %s: %w", r.Addr, err)
	}
	defer c.Close()
	hostname := r.Hostname
	if hostname == "" {
		hostname = "localhost"
	}
	if err := c.Hello(hostname); err != nil {
		return fmt.Errorf("mail: relay %s: EHLO: %w", r.Addr, err)
	}
	mode := r.StartTLS
	if mode == "" {
		mode = StartTLSOpportunistic
	}
	if ok, _ := c.Extension("STARTTLS"); ok && mode != StartTLSNone {
		conf := r.TLS
		if conf == nil {
			conf = &tls.Config{}
		}
		conf = conf.Clone()
		if conf.ServerName == "" {
			conf.ServerName = host
		}
		if conf.MinVersion == 0 {
			conf.MinVersion = tls.VersionTLS12
		}
		if err := c.StartTLS(conf); err != nil {
			return fmt.Errorf("mail: relay %s: STARTTLS: %w%s", r.Addr, err, certHint(err, conf.ServerName))
		}
	} else if mode == StartTLSRequired {
		return fmt.Errorf("mail: relay %s does not offer STARTTLS, which smtp.starttls = \"required\" asks for", r.Addr)
	}
	if r.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", r.Username, r.Password, host)); err != nil {
			return fmt.Errorf("mail: relay %s: authenticating as %s: %w", r.Addr, r.Username, err)
		}
	}
	// The SIZE after STARTTLS counts: net/smtp asks EHLO again over TLS.
	if ok, param := c.Extension("SIZE"); ok {
		if limit, err := strconv.ParseInt(strings.TrimSpace(param), 10, 64); err == nil && limit > 0 {
			size, err := m.Size(r.From)
			if err != nil {
				return fmt.Errorf("mail: relay %s: %w", r.Addr, err)
			}
			if size+SizeMargin > limit {
				c.Quit()
				return &TooLargeError{Relay: r.Addr, Size: size, Limit: limit}
			}
		}
	}
	if err := c.Mail(r.From); err != nil {
		return fmt.Errorf("mail: relay %s: MAIL FROM:<%s>: %w", r.Addr, r.From, err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("mail: relay %s refused recipient %s: %w", r.Addr, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: relay %s: DATA: %w", r.Addr, err)
	}
	if err := m.write(w, r.From, nil); err != nil {
		w.Close()
		return fmt.Errorf("mail: relay %s: writing the message: %w", r.Addr, err)
	}
	if err := w.Close(); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && (te.Code == 552 || strings.HasPrefix(te.Msg, "5.3.4")) {
			return &TooLargeError{Relay: r.Addr, Reply: te}
		}
		return fmt.Errorf("mail: relay %s did not accept the message: %w", r.Addr, err)
	}
	if err := c.Quit(); err != nil && !errors.Is(err, io.EOF) {
		// The message was accepted already; a failed QUIT loses nothing.
		return nil
	}
	return nil
}

// SizeMargin is what a relay adds to a message before it compares it with
// its limit (Postfix's message_size_limit counts the envelope and the
// Received header it prepends), so that a message the SIZE check lets
// through is not refused at the end of DATA.
const SizeMargin = 4 << 10

// TooLargeError is a message the relay does not take because of its size:
// larger than the SIZE it advertised (Limit, with SizeMargin), or refused as
// too large once sent (Reply). Sending it again fails again; a smaller one
// may pass.
type TooLargeError struct {
	Relay string
	Size  int64 // the message, in bytes as sent; 0 if the relay's reply said it
	Limit int64 // the relay's EHLO SIZE; 0 if it advertised none
	Reply *textproto.Error
}

func (e *TooLargeError) Error() string {
	if e.Reply != nil {
		return fmt.Sprintf("mail: relay %s refused the message as too large: %v", e.Relay, e.Reply)
	}
	return fmt.Sprintf("mail: the message is %d bytes and relay %s takes at most %d (its EHLO SIZE)", e.Size, e.Relay, e.Limit)
}

func (e *TooLargeError) Unwrap() error {
	if e.Reply == nil {
		return nil
	}
	return e.Reply
}

// Permanent reports whether err is a permanent refusal: a 5xx reply of the
// relay (to AUTH, MAIL, RCPT or the message), or a message larger than the
// relay takes (TooLargeError, also when only its EHLO SIZE said so), which
// the same mail would get again. A 4xx reply, a connection or TLS failure, or
// a configuration the operator can correct is not: it may pass later.
func Permanent(err error) bool {
	var te *textproto.Error
	var big *TooLargeError
	return errors.As(err, &big) || errors.As(err, &te) && te.Code >= 500 && te.Code <= 599
}

// certHint says what to check when the relay's certificate was not
// trusted: the handshake's own message does not name the setting.
func certHint(err error, server string) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return " (the relay's certificate is not signed by a CA mailaudit trusts: smtp.ca_cert names the CA that signs it)"
	case errors.As(err, &host):
		return fmt.Sprintf(" (the relay's certificate is not for %s: smtp.relay must name the relay as its certificate does)", server)
	case errors.As(err, &invalid):
		return " (the relay's certificate is not valid: expired, not yet valid, or not for a server)"
	}
	return ""
}

// Size is the message's size as the relay receives it, without reading the
// attachments: their base64 length follows from their files' sizes.
func (m *Message) Size(from string) (int64, error) {
	var c countWriter
	if err := m.write(&c, from, &c); err != nil {
		return 0, fmt.Errorf("sizing the message: %w", err)
	}
	return c.n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// encodedLen is the length of n bytes written by encode.
func encodedLen(n int64) int64 {
	b := (n + 2) / 3 * 4
	return b + (b+75)/76*2
}

// WriteTo writes the message as the relay receives it (for tests and for
// saving a copy).
func (m *Message) WriteTo(w io.Writer, from string) error { return m.write(w, from, nil) }

// write writes the message to w. With sizing (the countWriter under w), the
// attachments are counted rather than read.
func (m *Message) write(w io.Writer, from string, sizing *countWriter) error {
	bw := bufio.NewWriter(w)
	mw := multipart.NewWriter(bw)
	var id [12]byte
	rand.Read(id[:])
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		domain = from[i+1:]
	}
	headers := []struct{ k, v string }{
		{"From", "mailaudit <" + from + ">"},
		{"To", strings.Join(m.To, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", time.Now().Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id[:]) + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/mixed; boundary="` + mw.Boundary() + `"`},
		{"Auto-Submitted", "auto-generated"},
	}
	for _, h := range headers {
		fmt.Fprintf(bw, "%s: %s\r\n", h.k, h.v)
	}
	bw.WriteString("\r\n")
	body, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return err
	}
	if err := encode(body, strings.NewReader(m.Body)); err != nil {
		return err
	}
	for _, a := range m.Attachments {
		part, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(a.ContentType, map[string]string{"name": a.Name})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return err
		}
		if sizing != nil {
			fi, err := os.Stat(a.Path)
			if err != nil {
				return fmt.Errorf("attaching %s: %w", a.Name, err)
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			sizing.n += encodedLen(fi.Size())
			continue
		}
		f, err := os.Open(a.Path)
		if err != nil {
			return fmt.Errorf("attaching %s: %w", a.Name, err)
		}
		err = encode(part, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("attaching %s: %w", a.Name, err)
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// encode writes r base64-encoded in lines of 76 characters (RFC 2045 §6.8).
// encoding/base64 does not break lines, hence lineWriter.
func encode(w io.Writer, r io.Reader) error {
	lw := &lineWriter{w: w}
	enc := base64.NewEncoder(base64.StdEncoding, lw)
	if _, err := io.Copy(enc, r); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if lw.n > 0 {
		_, err := io.WriteString(w, "\r\n")
		return err
	}
	return nil
}

type lineWriter struct {
	w io.Writer
	n int // characters on the current line
}

func (l *lineWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(76-l.n, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return written, err
		}
		written += k
		l.n += k
		p = p[k:]
		if l.n == 76 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return written, err
			}
			l.n = 0
		}
	}
	return written, nil
}
