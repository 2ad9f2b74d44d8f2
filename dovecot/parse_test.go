package dovecot

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseLogLine(t *testing.T) {
	year := func(time.Month) int { return 2026 }
	local := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, c := range []struct {
		name, line string
		ok         bool
		want       logLine
	}{
		{"mailaudit's log_timestamp", `2026-11-22T04:56:20.071799+0000 imap(alice)<24067><wzdTTNZgoLt/AAAB><auth_user=admin master=admin>: Info: expunge: box=INBOX, uid=8`, true,
			logLine{Time: utc("2026-11-22T04:56:20.071799Z"), Service: "imap", User: "alice", Session: "wzdTTNZgoLt/AAAB",
				Fields: map[string]string{"auth_user": "admin", "master": "admin"}, Level: "Info", Msg: "expunge: box=INBOX, uid=8"}},
		{"offset", `2026-11-22T05:56:20.5+0100 stats: Info: {"event":"x"}`, true,
			logLine{Time: utc("2026-11-22T04:56:20.5Z"), Service: "stats", Level: "Info", Msg: `{"event":"x"}`}},
		{"Dovecot's default timestamp", `Nov 22 04:56:20 imap(bob)<12532><y4Zop9RgWpZ/AAAB>: Info: delete: box=INBOX`, true,
			logLine{Time: local("2026-11-22 04:56:20"), Coarse: true, Service: "imap", User: "bob", Session: "y4Zop9RgWpZ/AAAB", Level: "Info", Msg: "delete: box=INBOX"}},
		{"rsyslog RFC 3339", `2026-11-22T04:56:20.071799+00:00 mx1 dovecot[812]: imap-login: Login: user=<alice>, session=<abc>`, true,
			logLine{Time: utc("2026-11-22T04:56:20.071799Z"), Service: "imap-login", Msg: "Login: user=<alice>, session=<abc>"}},
		{"BSD syslog", `Nov  2 04:56:20 mx1 dovecot: stats: {"event":"x"}`, true,
			logLine{Time: local("2026-11-02 04:56:20"), Coarse: true, Service: "stats", Msg: `{"event":"x"}`}},
		{"process without user", `2026-11-22T04:55:59.786691+0000 lmtp(23964): Info: Connect from 127.0.0.1`, true,
			logLine{Time: utc("2026-11-22T04:55:59.786691Z"), Service: "lmtp", User: "23964", Level: "Info", Msg: "Connect from 127.0.0.1"}},
		{"not Dovecot", `some other program wrote this`, false, logLine{}},
		{"empty", ``, false, logLine{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := parseLogLine([]byte(c.line+"\n"), year)
			if ok != c.ok {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			if !got.Time.Equal(c.want.Time) {
				t.Errorf("time %v, want %v", got.Time, c.want.Time)
			}
			got.Time, c.want.Time = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseMailLog(t *testing.T) {
	for _, c := range []struct {
		name, msg string
		ok        bool
		err       string
		want      mailLogRec
	}{
		{"copy", "copy from INBOX: box=Archive, uid=9, msgid=<a@b>, size=406, subject=Invoice 8, flags=()", true, "",
			mailLogRec{Kind: "copy", Src: "INBOX", Box: "Archive", UID: 9, MsgID: "<a@b>", Size: 406, Subject: "Invoice 8", Flags: "()"}},
		{"copy from a folder with ': box=' in its name", "copy from a: box=b: box=Archive, uid=1", true, "",
			mailLogRec{Kind: "copy", Src: "a: box=b", Box: "Archive", UID: 1}},
		{"subject that fakes fields", "expunge: box=INBOX, uid=3, msgid=<x@y>, size=10, subject=hi, uid=99, flags=(\\Deleted), flags=(\\Seen)", true, "",
			mailLogRec{Kind: "expunge", Box: "INBOX", UID: 3, MsgID: "<x@y>", Size: 10, Subject: "hi, uid=99, flags=(\\Deleted)", Flags: `(\Seen)`}},
		{"Message-ID that fakes fields", "delete: box=INBOX, uid=3, msgid=<a, size=1, subject=b>, size=10, subject=real, flags=(\\Deleted)", true, "",
			mailLogRec{Kind: "delete", Box: "INBOX", UID: 3, MsgID: "<a, size=1, subject=b>", Size: 10, Subject: "real", Flags: `(\Deleted)`}},
		{"with vsize and from", "save: box=Drafts, uid=1, msgid=<d@e>, size=101, vsize=107, from=A <a@b>, subject=Draft, 1, flags=(\\Draft)", true, "",
			mailLogRec{Kind: "save", Box: "Drafts", UID: 1, MsgID: "<d@e>", Size: 101, Subject: "Draft, 1", Flags: `(\Draft)`}},
		{"old name of save", "append: box=INBOX, uid=2", true, "", mailLogRec{Kind: "save", Box: "INBOX", UID: 2}},
		{"empty msgid", "flag_change: box=INBOX, uid=2, msgid=, size=5, subject=, flags=(\\Flagged)", true, "",
			mailLogRec{Kind: "flag_change", Box: "INBOX", UID: 2, Size: 5, Flags: `(\Flagged)`}},
		{"folder line", "Mailbox created: Archive", false, "", mailLogRec{}},
		{"other message", "Disconnected: Logged out in=12", false, "", mailLogRec{}},
		{"no box", "expunge: uid=4, msgid=<a@b>", true, "without box=", mailLogRec{}},
		{"bad uid", "expunge: box=INBOX, uid=x", true, "bad uid", mailLogRec{}},
		{"copy without box", "copy from INBOX to Archive", true, "without", mailLogRec{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok, err := parseMailLog(c.msg)
			if ok != c.ok {
				t.Fatalf("ok = %v", ok)
			}
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok && !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestIMAPTokens(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`Drafts carol lr`, []string{"Drafts", "carol", "lr"}},
		{`"My Folder" "carol@example.org" lrs`, []string{"My Folder", "carol@example.org", "lrs"}},
		{`Drafts (\Draft) <107 byte literal>`, []string{"Drafts", `(\Draft)`, "<107 byte literal>"}},
		{`5:6 "a \"b\" c"`, []string{"5:6", `a "b" c`}},
		{`Bin (USE (\Trash))`, []string{"Bin", `(USE (\Trash))`}},
		{`("name" "mutt" "version" "2.2")`, []string{`("name" "mutt" "version" "2.2")`}},
		{``, nil},
	} {
		if got := imapTokens(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("imapTokens(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDecodeMUTF7(t *testing.T) {
	for in, want := range map[string]string{
		"INBOX":                 "INBOX",
		"Entw&APw-rfe":          "Entwürfe",
		"&ZeVnLIqe-":            "日本語",
		"Tom &- Jerry":          "Tom & Jerry",
		"Gel&APY-schte Objekte": "Gelöschte Objekte",
		"bad &!!!-":             "bad &!!!-", // not modified UTF-7: kept
		"no end &AP":            "no end &AP",
	} {
		if got := decodeMUTF7(in); got != want {
			t.Errorf("decodeMUTF7(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIDList(t *testing.T) {
	for in, want := range map[string]map[string]string{
		`"name" "Thunderbird" "version" "128.5.0"`:   {"name": "Thunderbird", "version": "128.5.0"},
		`("NAME" "mutt" "version" NIL "os" "Linux")`: {"name": "mutt", "os": "Linux"},
		`NIL`:                                   {},
		`"name" "K-9 \"Mail\"" "version" "6.8"`: {"name": `K-9 "Mail"`, "version": "6.8"},
	} {
		if got := parseIDList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("parseIDList(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestResponseCodes(t *testing.T) {
	src, dst, ok := copyUID("OK [COPYUID 1795323360 5:6,9 12:14] Copy completed.")
	if !ok || !reflect.DeepEqual(src, []uint32{5, 6, 9}) || !reflect.DeepEqual(dst, []uint32{12, 13, 14}) {
		t.Errorf("copyUID: %v %v %v", src, dst, ok)
	}
	if _, _, ok := copyUID("OK [COPYUID 1 1:3 5] Copy completed."); ok {
		t.Error("copyUID accepted sets of different sizes")
	}
	if _, _, ok := copyUID("OK Copy completed."); ok {
		t.Error("copyUID without the code")
	}
	if _, ok := parseUIDSet("1:4294967295"); ok {
		t.Error("parseUIDSet expanded a huge range")
	}
	if u, ok := appendUID("OK [APPENDUID 1795323362 7] Append completed."); !ok || !reflect.DeepEqual(u, []uint32{7}) {
		t.Errorf("appendUID: %v %v", u, ok)
	}
}

func TestStoreArgs(t *testing.T) {
	tests := []struct {
		uid   bool
		args  string
		want  storeArgs
		lines map[string]bool // "kind uid flags": whether the STORE admits the line
	}{
		{true, `4 +FLAGS (\Flagged)`, storeArgs{uids: []uint32{4}, count: 1, op: '+', others: []string{`\flagged`}, ok: true},
			map[string]bool{`flag_change 4 (\Flagged)`: true, `flag_change 5 (\Flagged)`: false,
				`flag_change 4 (\Seen)`: false, `delete 4 (\Deleted \Flagged)`: false}},
		{true, `1:3,7 -FLAGS.SILENT (\Flagged $Important)`, storeArgs{uids: []uint32{1, 2, 3, 7}, count: 4, op: '-', others: []string{`\flagged`, `$important`}, ok: true},
			map[string]bool{`flag_change 2 ($Important)`: true, `flag_change 7 ()`: true, `flag_change 2 (\Flagged $Important)`: false, `flag_change 4 ()`: false}},
		{false, `2 +FLAGS.SILENT (\Deleted)`, storeArgs{count: 1, op: '+', deleted: true, ok: true},
			map[string]bool{`delete 9 (\Deleted)`: true, `undelete 9 ()`: false, `flag_change 9 (\Seen \Deleted)`: false}},
		{true, `5 -FLAGS \Deleted`, storeArgs{uids: []uint32{5}, count: 1, op: '-', deleted: true, ok: true},
			map[string]bool{`undelete 5 ()`: true, `delete 5 (\Deleted)`: false}},
		{true, `1:* FLAGS (\Seen)`, storeArgs{ok: true, others: []string{`\seen`}},
			map[string]bool{`flag_change 8 (\Seen)`: true, `undelete 8 (\Seen)`: true, `delete 8 (\Deleted)`: false}},
		{true, `3 (UNCHANGEDSINCE 12) +FLAGS ($Done)`, storeArgs{uids: []uint32{3}, count: 1, op: '+', others: []string{`$done`}, ok: true},
			map[string]bool{`flag_change 3 ($Done)`: true}},
		// Not readable: any line of the folder is admitted, as before
		// there was a check.
		{true, `4`, storeArgs{},
			map[string]bool{`flag_change 4 (\Seen)`: true, `flag_change 5 ()`: true}},
	}
	for _, tt := range tests {
		got := parseStore(tt.uid, tt.args)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseStore(%v, %q) = %+v, want %+v", tt.uid, tt.args, got, tt.want)
		}
		for line, want := range tt.lines {
			f := strings.SplitN(line, " ", 3)
			uid, _ := strconv.Atoi(f[1])
			if g := got.admits(f[0], uint32(uid), f[2]); g != want {
				t.Errorf("%q admits %q: %v, want %v", tt.args, line, g, want)
			}
		}
	}
}

func TestSharedNamespace(t *testing.T) {
	for _, c := range []struct {
		prefix, name string
		owner, rel   string
		ok           bool
	}{
		{"shared/%%u/", "shared/alice/Archive", "alice", "Archive", true},
		{"shared/%%u/", "shared/alice/INBOX", "alice", "INBOX", true},
		{"shared/%%u/", "shared/alice", "alice", "INBOX", true},
		{"shared/%%u/", "shared/alice@example.org/Projects/2026", "alice@example.org", "Projects/2026", true},
		{"shared/%u/", "shared/bob/Sent", "bob", "Sent", true},
		{"shared/%%u/", "sharedfolder", "", "", false},
		{"shared/%%u/", "Archive", "", "", false},
		{"shared/%%d/%%n/", "shared/example.org/alice/Archive", "alice@example.org", "Archive", true},
		{"Other Users/%%{user}/", "Other Users/carol/Trash", "carol", "Trash", true},
		{"shared.%%u.", "shared.alice.Archive", "alice", "Archive", true},
		{"Public/", "Public/News", "", "", false}, // no owner: not a shared namespace
	} {
		owner, rel, ok := newSharedNS(c.prefix).split(c.name)
		if ok != c.ok || owner != c.owner || rel != c.rel {
			t.Errorf("%q %q: got %q %q %v, want %q %q %v", c.prefix, c.name, owner, rel, ok, c.owner, c.rel, c.ok)
		}
	}
}

func TestFolderPath(t *testing.T) {
	for in, want := range map[string]string{
		"INBOX": "/Inbox", "inbox": "/Inbox", "INBOX/Sub": "/Inbox/Sub", "INBOX.Sub": "/Inbox.Sub",
		"INBOXES": "/INBOXES", "Archive": "/Archive", "Deleted Items": "/Deleted Items",
	} {
		if got := folderPath(in); got != want {
			t.Errorf("folderPath(%q) = %q, want %q", in, got, want)
		}
	}
	tr := NewTranslator(Options{})
	for name, want := range map[string]bool{
		"Trash": true, "trash": true, "Deleted Items": true, "INBOX/Trash": true, "INBOX.Deleted Messages": true,
		"Archive": false, "Trash/Old": false, "Bin": false,
	} {
		if got := tr.isTrash(place{Owner: "alice", Rel: name}); got != want {
			t.Errorf("isTrash(%q) = %v", name, got)
		}
	}
}

func TestRestoreRefusesOtherVersions(t *testing.T) {
	tr := NewTranslator(Options{})
	if err := tr.Restore([]byte(`{"version":99,"sessions":{}}`)); err == nil {
		t.Error("accepted version 99")
	}
	if err := tr.Restore([]byte(`not json`)); err == nil {
		t.Error("accepted garbage")
	}
	st, err := tr.State()
	if err != nil {
		t.Fatal(err)
	}
	if err := NewTranslator(Options{}).Restore(st); err != nil {
		t.Errorf("Restore(State()) of a new translator: %v", err)
	}
}

// TestSessionsAreForgotten checks that ended sessions do not pile up: Flush
// drops them once their grace time has passed.
func TestSessionsAreForgotten(t *testing.T) {
	tr := NewTranslator(Options{})
	lines := []string{
		`2026-11-22T05:00:00.000000+0000 stats: Info: {"event":"auth_request_finished","end_time":"2026-11-22T05:00:00Z","fields":{"success":"yes","service":"imap","session":"S1","user":"alice","remote_ip":"192.0.2.7"}}`,
		`2026-11-22T05:00:01.000000+0000 imap(alice)<1><S1><auth_user=alice master=>: Info: Disconnected: Logged out in=1 out=2`,
		`2026-11-22T05:00:01.100000+0000 stats: Info: {"event":"mail_user_session_finished","end_time":"2026-11-22T05:00:01.1Z","fields":{"session":"S1","user":"alice"}}`,
	}
	for i, l := range lines {
		if _, err := tr.Line([]byte(l), "t:"+strconv.Itoa(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	tr.Flush(time.Second)
	if len(tr.st.Sessions) != 1 {
		t.Fatalf("the ended session went before its grace time: %d sessions", len(tr.st.Sessions))
	}
	later := `2026-11-22T05:10:00.000000+0000 stats: Info: {"event":"auth_request_finished","end_time":"2026-11-22T05:10:00Z","fields":{"success":"yes","service":"imap","session":"S2","user":"bob"}}`
	if _, err := tr.Line([]byte(later), "t:9"); err != nil {
		t.Fatal(err)
	}
	tr.Flush(time.Second)
	if _, ok := tr.st.Sessions["S1"]; ok || len(tr.st.Sessions) != 1 {
		t.Errorf("sessions after the grace time: %v", tr.st.Sessions)
	}
}
