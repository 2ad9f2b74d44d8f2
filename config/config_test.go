package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The example file is the defaults, so that what docs/configuration.md
// shows is what a file that sets nothing gets.
func TestExampleIsDefaults(t *testing.T) {
	c, err := Parse([]byte(Example))
	if err != nil {
		t.Fatal(err)
	}
	if want := Defaults(); !reflect.DeepEqual(*c, want) {
		t.Errorf("example:\n%+v\ndefaults:\n%+v", *c, want)
	}
	empty, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := Defaults(); !reflect.DeepEqual(*empty, want) {
		t.Errorf("empty file:\n%+v\ndefaults:\n%+v", *empty, want)
	}
}

// Every key of the example is documented.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), Example) {
		t.Error("docs/configuration.md does not show config/example.toml as it is")
	}
	keys := tomlKeys(reflect.TypeOf(Config{}), "")
	if len(keys) < 20 {
		t.Fatalf("only %d keys found in Config: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", k)
		}
	}
}

// tomlKeys lists the dotted keys of a configuration struct by its toml
// tags, so that a new setting cannot go undocumented.
func tomlKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
			keys = append(keys, tomlKeys(ft, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

func TestParse(t *testing.T) {
	c, err := Parse([]byte(`
data = "/srv/audit"
hostname = "mx1.example.org"
seal_interval = "2s"

[log]
format = "text"

[[listen]]
address = "0.0.0.0:8443"
tls_cert = "/etc/mailaudit/cert.pem"
tls_key = "/etc/mailaudit/key.pem"

[[listen]]
address = "127.0.0.1:8425"

[limits]
max_request_bytes = 1048576
max_concurrent_searches = 8

[retention]
interval = "0s"

[[dovecot]]
log = "/var/log/dovecot-audit.log"

[[dovecot]]
log = "/var/log/dovecot2-audit.log"
shared_prefix = "Other Users/%%u/"
trash_folders = ["Papierkorb", "Trash"]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Data, want.Hostname, want.SealInterval = "/srv/audit", "mx1.example.org", Duration(2*time.Second)
	want.Log.Format = "text"
	want.Listen = []Listener{{"0.0.0.0:8443", "/etc/mailaudit/cert.pem", "/etc/mailaudit/key.pem"}, {Address: "127.0.0.1:8425"}}
	want.Limits.MaxRequestBytes, want.Limits.MaxConcurrentSearches = 1<<20, 8
	want.Retention.Interval = 0
	want.Dovecot = []Dovecot{{Log: "/var/log/dovecot-audit.log"}, {Log: "/var/log/dovecot2-audit.log", SharedPrefix: "Other Users/%%u/", TrashFolders: []string{"Papierkorb", "Trash"}}}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", *c, want)
	}
	if got := c.TokensPath(); got != "/srv/audit/tokens.json" {
		t.Errorf("TokensPath = %s", got)
	}
	if !c.Listen[0].TLS() || c.Listen[1].TLS() {
		t.Error("TLS() wrong")
	}
}

// A bad file is refused with the line and the reason.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		line       int
		reason     string
	}{
		{"syntax", "data = \"/x\"\nlog = [\n", 2, ""},
		{"unknown key", "data = \"/x\"\n\n[limits]\nmax_searches = 3\n", 4, `unknown setting "limits.max_searches"`},
		{"unknown top-level key", "dta = \"/x\"\n", 1, `unknown setting "dta"`},
		{"unknown table", "[retension]\ninterval = \"1h\"\n", 1, `unknown setting "retension`},
		{"wrong type", "data = 5\n", 1, "data"},
		{"bad duration", "seal_interval = \"ten seconds\"\n", 1, `"ten seconds" is not a duration`},
		{"bad size", "[limits]\nmax_request_bytes = \"lots\"\n", 2, `"lots" is not a size`},
		{"tiny size", "[limits]\nmax_request_bytes = 10\n", 2, "limits.max_request_bytes: at least 1KiB"},
		{"bad log format", "[log]\nformat = \"xml\"\n", 2, `log.format: "xml" is not json or text`},
		{"bad level", "[log]\nlevel = \"loud\"\n", 2, `log.level: "loud"`},
		{"bad address", "[[listen]]\naddress = \"8425\"\n", 2, `listen.address: "8425" is not host:port`},
		{"cert without key", "[[listen]]\naddress = \"127.0.0.1:1\"\ntls_cert = \"c.pem\"\n", 3, "needs both tls_cert and tls_key"},
		{"no searches", "[limits]\nmax_concurrent_searches = 0\n", 2, "at least 1"},
		{"dovecot without log", "[[dovecot]]\nshared_prefix = \"x/\"\n", 1, "dovecot.log: every [[dovecot]] needs the path of its log"},
		{"empty trash folder", "[[dovecot]]\nlog = \"/l\"\ntrash_folders = [\"Trash\", \" \"]\n", 3, "dovecot.trash_folders: a folder name must not be empty"},
		{"negative retention", "[retention]\ninterval = \"-1h\"\n", 2, "must not be negative"},
		{"empty data", "data = \"\"\n", 1, "data directory must be set"},
		{"bad starttls", "[smtp]\nrelay = \"mx:25\"\nstarttls = \"always\"\n", 3, `smtp.starttls: "always"`},
		{"bad relay", "[smtp]\nrelay = \"mx\"\n", 2, `smtp.relay: "mx" is not host:port`},
		{"user without password", "[smtp]\nrelay = \"mx:587\"\nusername = \"audit\"\n", 3, "password_file"},
		{"bad milter address", "[[milter]]\nlisten = \"8891\"\n", 2, `milter.listen: "8891" is not a milter address`},
		{"bad milter durability", "[[milter]]\nlisten = \"inet:127.0.0.1:1\"\ndurability = \"fsync\"\n", 3, `milter.durability: "fsync" is not disk, device or process`},
		{"relative milter socket", "[[milter]]\nlisten = \"unix:milter.sock\"\n", 2, "milter.listen"},
		{"shared milter spool", "[[milter]]\nlisten = \"inet:127.0.0.1:1\"\nspool = \"/s\"\n[[milter]]\nlisten = \"inet:127.0.0.1:2\"\nspool = \"/s/\"\n", 3, "share the spool /s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a config.Error", err)
			}
			if ce.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", ce.Line, tc.line, err)
			}
			if !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", ce.Reason, tc.reason)
			}
		})
	}
}

func TestLoadNamesFile(t *testing.T) {
	path := t.TempDir() + "/mailaudit.toml"
	os.WriteFile(path, []byte("[log]\nformat = 1\n"), 0o644)
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), "config: "+path+":2: ") {
		t.Errorf("err = %v, want it to start with config: %s:2:", err, path)
	}
	if _, err := Load(t.TempDir() + "/missing.toml"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// A milter listener's spool defaults to a directory of its own under data.
func TestMilterSpool(t *testing.T) {
	c, err := Parse([]byte("data = \"/srv/audit\"\n[[milter]]\nlisten = \"inet:127.0.0.1:8891\"\n[[milter]]\nlisten = \"unix:/run/mailaudit/milter.sock\"\n[[milter]]\nlisten = \"inet:[::1]:8891\"\nspool = \"/var/spool/mailaudit\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/srv/audit/milter/inet_127.0.0.1_8891", "/srv/audit/milter/unix__run_mailaudit_milter.sock", "/var/spool/mailaudit"}
	for i, m := range c.Milter {
		if got := c.MilterSpool(m); got != want[i] {
			t.Errorf("spool of %s: %s, want %s", m.Listen, got, want[i])
		}
	}
}
