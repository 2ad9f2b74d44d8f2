// Package token keeps the API tokens of mailaudit serve: who may call the HTTP
// API, and with which role.
//
// The tokens file is one JSON document, written whole to a temporary file and
// renamed over the old one, mode 0600:
//
//	{"tokens": [{"name": "siem", "role": "auditor",
//	             "hash": "sha256:<64 hex digits>", "created": "2026-11-22T07:00:00Z"}]}
//
// Only the SHA-256 of a token is stored. A token is "mat_" followed by 43
// characters of base64url (32 random bytes): too much entropy for a hash
// without salt or stretching to be guessed back, which is why a plain SHA-256
// is enough here where a password would need bcrypt or argon2.
//
// The daemon re-reads the file when its modification time or size changes, so
// tokens created or revoked with the command line take effect at once.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

// Role is what a token may do.
type Role string

// The roles. Each token carries exactly one: least privilege means an
// administrator who also investigates holds two tokens.
const (
	// Admin changes the directory and audit configuration, and reads it.
	Admin Role = "admin"
	// Auditor reads the audit log and the configuration, like Exchange's
	// View-Only Audit Logs role.
	Auditor Role = "auditor"
	// Ingest writes activity and nothing else: what sources run with.
	Ingest Role = "ingest"
)

// Roles lists the roles in the order they are documented.
var Roles = []Role{Admin, Auditor, Ingest}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if strings.EqualFold(s, string(r)) {
			return r, nil
		}
	}
	return "", audit.Errorf(audit.EInvalid, "unknown role %q: use admin, auditor or ingest", s)
}

// Token is a stored token: everything but the secret.
type Token struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
	// Sources, for an ingest token, are the only Source values its activity
	// may carry (none: any). Binding each source's token to its name keeps
	// one source from speaking for another: in particular from claiming a
	// source whose LogonTypeHint=Admin the organisation trusts.
	Sources []string `json:"sources,omitempty"`
}

type document struct {
	Tokens []Token `json:"tokens"`
}

const prefix = "mat_"

// hash is how a token is stored and looked up.
func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// File is a tokens file.
type File struct {
	Path string

	mu     sync.Mutex
	stamp  fileStamp
	byHash map[string]Token
}

type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

// Open returns the tokens file at path; it need not exist yet.
func Open(path string) *File { return &File{Path: path} }

func (f *File) read() (document, error) {
	var doc document
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, fmt.Errorf("token: reading %s: %w", f.Path, err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("token: %s is not a tokens file: %w", f.Path, err)
	}
	return doc, nil
}

func (f *File) write(doc document) error {
	sort.Slice(doc.Tokens, func(i, j int) bool { return doc.Tokens[i].Name < doc.Tokens[j].Name })
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token: creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".tokens-*")
	if err != nil {
		return fmt.Errorf("token: writing %s: %w", f.Path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.Path)
	}
	if err != nil {
		return fmt.Errorf("token: writing %s: %w", f.Path, err)
	}
	return nil
}

// Create makes a token and returns its secret, which is shown once and never
// stored.
func (f *File) Create(name string, role Role, now time.Time, sources ...string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return "", audit.Errorf(audit.EInvalid, "a token name is one word, not %q", name)
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", err
	}
	if len(sources) > 0 && role != Ingest {
		return "", audit.Errorf(audit.EInvalid, "only ingest tokens are bound to sources")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	doc, err := f.read()
	if err != nil {
		return "", err
	}
	for _, t := range doc.Tokens {
		if strings.EqualFold(t.Name, name) {
			return "", audit.Errorf(audit.EInvalid, "a token named %q exists already; remove it first to replace it", t.Name)
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	secret := prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	doc.Tokens = append(doc.Tokens, Token{Name: name, Role: role, Hash: hash(secret), Created: now.UTC().Truncate(time.Second), Sources: sources})
	if err := f.write(doc); err != nil {
		return "", err
	}
	return secret, nil
}

// List returns the tokens, by name.
func (f *File) List() ([]Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc, err := f.read()
	return doc.Tokens, err
}

// Revoke removes the token called name.
func (f *File) Revoke(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc, err := f.read()
	if err != nil {
		return err
	}
	for i, t := range doc.Tokens {
		if strings.EqualFold(t.Name, name) {
			doc.Tokens = append(doc.Tokens[:i], doc.Tokens[i+1:]...)
			return f.write(doc)
		}
	}
	return audit.Errorf(audit.ENotFound, "no token named %q", name)
}

// ErrUnknown is a token that is not in the file (or a malformed one).
var ErrUnknown = errors.New("unknown token")

// Authenticate returns the token whose secret this is. The file is re-read
// when it changed since the last call. If it cannot be read, nobody is let
// in (the error says why): a revoked token must not outlive a broken file.
func (f *File) Authenticate(secret string) (Token, error) {
	if !strings.HasPrefix(secret, prefix) {
		return Token{}, ErrUnknown
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refresh(); err != nil {
		f.byHash = nil
		return Token{}, err
	}
	t, ok := f.byHash[hash(secret)]
	if !ok {
		return Token{}, ErrUnknown
	}
	return t, nil
}

func (f *File) refresh() error {
	var st fileStamp
	if fi, err := os.Stat(f.Path); err == nil {
		st = fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("token: %w", err)
	}
	if f.byHash != nil && st == f.stamp {
		return nil
	}
	doc, err := f.read()
	if err != nil {
		return err
	}
	m := make(map[string]Token, len(doc.Tokens))
	for _, t := range doc.Tokens {
		m[t.Hash] = t
	}
	f.byHash, f.stamp = m, st
	return nil
}
