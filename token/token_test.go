package token

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailaudit/mailaudit/audit"
)

func TestCreateAuthenticateRevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tokens.json")
	f := Open(path)
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	secrets := map[string]string{}
	for _, tc := range []struct {
		name string
		role Role
	}{{"root", Admin}, {"siem", Auditor}, {"mx1", Ingest}} {
		s, err := f.Create(tc.name, tc.role, now)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, "mat_") || len(s) != 4+43 {
			t.Errorf("token %q has the wrong form", s)
		}
		secrets[tc.name] = s
	}
	// Only hashes are stored, in a file nobody else can read.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range secrets {
		if strings.Contains(string(b), s) || strings.Contains(string(b), s[4:]) {
			t.Errorf("the secret of %s is stored in the file", name)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("tokens file mode %v, want 0600", fi.Mode().Perm())
	}

	// A second File (the daemon) sees the tokens made by the first (the CLI).
	daemon := Open(path)
	for name, s := range secrets {
		tok, err := daemon.Authenticate(s)
		if err != nil || tok.Name != name {
			t.Errorf("Authenticate(%s) = %+v, %v", name, tok, err)
		}
	}
	for _, bad := range []string{"", "mat_", "Bearer " + secrets["root"], secrets["root"] + "x", strings.ToUpper(secrets["root"]), "mat_" + strings.Repeat("A", 43)} {
		if _, err := daemon.Authenticate(bad); !errors.Is(err, ErrUnknown) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnknown", bad, err)
		}
	}

	list, err := f.List()
	if err != nil || len(list) != 3 || list[0].Name != "mx1" || list[1].Role != Admin || !list[2].Created.Equal(now) {
		t.Errorf("List = %+v, %v", list, err)
	}

	// Revoked: refused at once by the daemon's File too.
	if err := f.Revoke("SIEM"); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.Authenticate(secrets["siem"]); !errors.Is(err, ErrUnknown) {
		t.Errorf("a revoked token still authenticates: %v", err)
	}
	if _, err := daemon.Authenticate(secrets["root"]); err != nil {
		t.Errorf("revoking siem broke root: %v", err)
	}
	if err := f.Revoke("siem"); audit.ErrorCode(err) != audit.ENotFound {
		t.Errorf("revoking twice: %v", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	f := Open(filepath.Join(t.TempDir(), "tokens.json"))
	if _, err := f.Create("a", Admin, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		role Role
		want string
	}{
		{"A", Auditor, `a token named "a" exists already`},
		{"two words", Admin, "one word"},
		{"", Admin, "one word"},
		{"b", "root", `unknown role "root"`},
	} {
		if _, err := f.Create(tc.name, tc.role, time.Now()); err == nil || !strings.Contains(err.Error(), tc.want) || audit.ErrorCode(err) != audit.EInvalid {
			t.Errorf("Create(%q, %q) = %v, want %q", tc.name, tc.role, err, tc.want)
		}
	}
}

// A tokens file that cannot be read lets nobody in, rather than keeping
// tokens it may have revoked.
func TestBrokenFileFailsClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	f := Open(path)
	s, err := f.Create("root", Admin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Authenticate(s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"tokens": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = f.Authenticate(s)
	if err == nil || errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), path) {
		t.Errorf("Authenticate over a broken file = %v, want an error naming the file", err)
	}
	// Mended: in again.
	os.Remove(path)
	s2, err := f.Create("root", Admin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Authenticate(s2); err != nil {
		t.Errorf("after mending: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	for _, s := range []string{"admin", "Auditor", "INGEST"} {
		if _, err := ParseRole(s); err != nil {
			t.Errorf("ParseRole(%q): %v", s, err)
		}
	}
	if _, err := ParseRole("owner"); err == nil {
		t.Error("ParseRole(owner) accepted")
	}
}
