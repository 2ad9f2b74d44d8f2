package dovecot

import (
	"bytes"
	"flag"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// harness is a standalone Dovecot built from testdata/harness/dovecot.conf.tmpl
// with Config's output included.
type harness struct {
	Dir                           string
	IMAPPort, LMTPPort, SievePort int
	Include                       string
	MailUser                      string
	Conf                          string // the rendered dovecot.conf
	AuditLog                      string // Config's LogPath
}

// newHarness writes a Dovecot configuration and its files into a new temp
// dir. mailUser owns the mail files; Dovecot refuses root.
func newHarness(t *testing.T, mailUser string) *harness {
	t.Helper()
	dir := t.TempDir()
	// Dovecot's processes run as dovecot/dovenull/mailUser: they must reach
	// the temp dir. Open up the test's own directories only, never one
	// above the system temp dir.
	top := filepath.Clean(os.TempDir())
	for d := dir; strings.HasPrefix(d, top+string(filepath.Separator)); d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			os.Chmod(d, st.Mode().Perm()|0o011)
		}
	}
	if st, err := os.Stat(top); err != nil || st.Mode().Perm()&0o001 == 0 {
		t.Skipf("%s is not traversable by Dovecot's users", top)
	}
	h := &harness{Dir: dir, IMAPPort: freePort(t), LMTPPort: freePort(t), SievePort: freePort(t), MailUser: mailUser,
		Include: filepath.Join(dir, "mailaudit.conf"), Conf: filepath.Join(dir, "dovecot.conf"),
		AuditLog: filepath.Join(dir, "audit.log")}
	files := map[string]string{
		"users":          "alice:{PLAIN}alicepw::::::\nbob:{PLAIN}bobpw::::::\ncarol:{PLAIN}carolpw::::::\n",
		"masters":        "admin:{PLAIN}adminpw::::::\n",
		"global-acl":     "* user=admin lrwstipekxa\n",
		"mailaudit.conf": Config(ConfigOptions{LogPath: h.AuditLog}),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "harness", "dovecot.conf.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, h); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.Conf, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// freePort finds a loopback port nothing listens on, so that the harness
// can run beside other Dovecot instances.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs Dovecot and stops it when the test ends.
func (h *harness) start(t *testing.T) {
	t.Helper()
	for _, d := range []string{"mail", "shared"} {
		p := filepath.Join(h.Dir, d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("chown", h.MailUser+":"+h.MailUser, p).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v %s", p, err, out)
		}
	}
	// Dovecot daemonises and its processes keep stdout and stderr: give it a
	// file, not a pipe, or waiting for the command never ends.
	outf, err := os.Create(filepath.Join(h.Dir, "dovecot.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outf.Close()
	cmd := exec.Command("dovecot", "-c", h.Conf)
	cmd.Stdout, cmd.Stderr = outf, outf
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(outf.Name())
		log, _ := os.ReadFile(filepath.Join(h.Dir, "dovecot.log"))
		t.Fatalf("dovecot: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		exec.Command("doveadm", "-c", h.Conf, "stop").Run()
		// Give the processes time to leave the temp dir before it is removed.
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(filepath.Join(h.Dir, "run", "master.pid")); os.IsNotExist(err) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// Wait for the IMAP listener.
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(filepath.Join(h.Dir, "run", "login", "imap")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// needDovecot skips a test on a machine that cannot run the harness.
func needDovecot(t *testing.T, run bool) string {
	t.Helper()
	for _, bin := range []string{"doveconf", "dovecot", "doveadm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed", bin)
		}
	}
	if !run {
		return "vmail"
	}
	if os.Geteuid() != 0 {
		t.Skip("running Dovecot needs root")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	for _, u := range []string{"vmail", "dovecot", "dovenull"} {
		if _, err := user.Lookup(u); err != nil {
			t.Skipf("no system user %s (useradd --system vmail)", u)
		}
	}
	return "vmail"
}

// TestConfigDoveconf checks Config's output with Dovecot's own parser:
// doveconf -n on the harness configuration, which includes it as printed.
func TestConfigDoveconf(t *testing.T) {
	mailUser := needDovecot(t, false)
	h := newHarness(t, mailUser)
	out, err := exec.Command("doveconf", "-n", "-c", h.Conf).CombinedOutput()
	if err != nil {
		t.Fatalf("doveconf -n refused the configuration: %v\n%s", err, out)
	}
	n := string(out)
	for _, want := range []string{
		"info_log_path = " + h.AuditLog,
		"event_exporter mailaudit {",
		"metric mailaudit_imap {",
		"imap_id_retain = yes",
		"auth_master_user_separator = *",
	} {
		if !strings.Contains(n, want) {
			t.Errorf("doveconf -n lacks %q", want)
		}
	}
	// The plugins must reach every protocol, after the plugins the
	// installation already had (acl, imap_acl, sieve in the harness).
	for proto, want := range map[string]string{
		"imap":    "acl imap_acl notify mail_log",
		"lmtp":    "acl sieve notify mail_log",
		"sieve":   "acl notify mail_log",
		"pop3":    "acl notify mail_log",
		"doveadm": "acl",
	} {
		out, err := exec.Command("doveconf", "-c", h.Conf, "-f", "protocol="+proto, "-h", "mail_plugins").CombinedOutput()
		if err != nil {
			t.Fatalf("doveconf protocol=%s: %v %s", proto, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("protocol %s: mail_plugins = %q, want %q", proto, got, want)
		}
	}
}

func TestConfigOptions(t *testing.T) {
	c := Config(ConfigOptions{LogPath: "/var/log/mail audit.log", SharedPrefix: "Other Users/%%u/", MasterSeparator: "%"})
	for _, want := range []string{
		`info_log_path = "/var/log/mail audit.log"`,
		"auth_master_user_separator = %",
		"#  prefix = Other Users/%%u/",
		`cmd_name="UID MOVE"`,
	} {
		if !strings.Contains(c, want) {
			t.Errorf("Config lacks %q", want)
		}
	}
	d := Config(ConfigOptions{})
	if !strings.Contains(d, "info_log_path = "+DefaultLogPath+"\n") || !strings.Contains(d, "prefix = shared/%%u/") {
		t.Errorf("defaults not applied:\n%s", d)
	}
}

var (
	live    = flag.Bool("live", false, "run a real Dovecot (root, dovecot, python3, user vmail) and translate what the harness driver does")
	capture = flag.String("capture", "", "with -live: write each scenario's log lines to this directory")
)

// TestLive drives a real Dovecot through every scenario of
// testdata/harness/driver.py and checks that the translator finds the
// operation each one is about. With -capture it saves the log lines, which
// is how the golden archives' lines were made.
func TestLive(t *testing.T) {
	if !*live {
		t.Skip("use -live to run a real Dovecot")
	}
	h := newHarness(t, needDovecot(t, true))
	h.start(t)
	out := *capture
	if out == "" {
		out = filepath.Join(h.Dir, "capture")
	} else if out, _ = filepath.Abs(out); out == "" {
		t.Fatal("bad -capture")
	}
	cmd := exec.Command("python3", filepath.Join("testdata", "harness", "driver.py"), "--log", h.AuditLog, "--out", out,
		"--doveadm", "doveadm -c "+h.Conf, "--imap-port", strconv.Itoa(h.IMAPPort), "--lmtp-port", strconv.Itoa(h.LMTPPort),
		"--sieve-port", strconv.Itoa(h.SievePort))
	cmd.Stderr = os.Stderr
	res, err := cmd.Output()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(h.Dir, "dovecot.log"))
		t.Fatalf("driver: %v\n%s\n%s", err, res, log)
	}
	if log, _ := os.ReadFile(filepath.Join(h.Dir, "dovecot.log")); bytes.Contains(log, []byte("Error:")) {
		t.Errorf("Dovecot logged errors:\n%s", log)
	}
	// Each scenario names the operations it must produce.
	want := map[string][]string{
		"login_owner": {"MailboxLogin"}, "login_admin": {"MailboxLogin"}, "login_delegate": {"MailboxLogin"},
		"folderbind_owner": {"FolderBind"}, "folderbind_delegate": {"FolderBind"}, "folderbind_admin": {"FolderBind"},
		"folderbind_failed": {"FolderBind"}, "bind_owner": {"MailItemsAccessed"}, "bind_delegate": {"MailItemsAccessed"},
		"bind_admin": {"MailItemsAccessed"}, "search_owner": {"SearchQueryInitiated"}, "search_delegate": {"SearchQueryInitiated"},
		"copy_owner": {"Copy"}, "copy_admin": {"Copy"}, "copy_failed": {"Copy"}, "move_owner": {"Move", "MoveToDeletedItems"},
		"move_delegate": {"Move"}, "move_admin": {"MoveToDeletedItems"}, "move_special_use": {"Move"},
		"flags_owner": {"Update", "SoftDelete"}, "flags_delegate": {"Update"}, "flags_admin": {"Update"},
		"softdelete_owner": {"SoftDelete"}, "softdelete_delegate": {"SoftDelete"}, "softdelete_admin": {"SoftDelete"},
		"expunge_owner": {"HardDelete"}, "expunge_delegate": {"HardDelete"}, "expunge_close_admin": {"HardDelete"},
		"delete_folder_owner": {"HardDelete"}, "append_owner": {"Create"}, "append_delegate": {"Create"}, "append_admin": {"Create"},
		"acl_owner": {"UpdateFolderPermissions"}, "acl_admin": {"UpdateFolderPermissions"}, "acl_failed": {"UpdateFolderPermissions"},
		"sieve_owner": {"UpdateInboxRules"}, "sieve_admin": {"UpdateInboxRules"}, "doveadm_expunge": {"HardDelete"},
		"doveadm_fetch": {"MailItemsAccessed"}, "login_id_after": {"MailboxLogin", "FolderBind"}, "search_admin": {"SearchQueryInitiated"},
	}
	tr := NewTranslator(Options{})
	for name, ops := range want {
		data, err := os.ReadFile(filepath.Join(out, name+".log"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := map[string]bool{}
		for i, line := range bytes.SplitAfter(data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			acts, err := tr.Line(line, name+":"+strconv.Itoa(i+1))
			if err != nil {
				t.Errorf("%s line %d: %v", name, i+1, err)
			}
			for _, a := range acts {
				got[a.Operation.String()] = true
			}
		}
		for _, a := range tr.Flush(0) {
			got[a.Operation.String()] = true
		}
		for _, op := range ops {
			if !got[op] {
				t.Errorf("%s: no %s (got %v)", name, op, got)
			}
		}
	}
}
