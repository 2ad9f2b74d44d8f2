package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	durabilitySeed    = flag.Uint64("durability.seed", 0, "seed of TestDurability's batches and kill times (0: from the clock)")
	durabilityKills   = flag.Int("durability.kills", 8, "how many times TestDurability kills the daemon")
	durabilityClients = flag.Int("durability.clients", 8, "concurrent HTTP clients of TestDurability")
)

// TestDurability is issue 4's durability test: several clients ingest over
// HTTP while the daemon is killed with SIGKILL at random moments and
// restarted on the same data directory. A client sends each batch until it is
// answered 200, resending after a refused or reset connection or a 503, so
// some batches arrive twice: once committed but unanswered, once again.
// Afterwards every activity that was answered 200 is in the store exactly
// once, and the store holds nothing else.
//
// The activities are of three kinds, so that the engine's volume-control
// state, committed with each batch, is killed mid-flight too:
//   - an owner's HardDelete, SoftDelete or Update of one item (all audited for
//     the owner by default): one record each;
//   - an owner's read of an item (MailItemsAccessed, Bind), dated an hour back
//     so that its two-minute aggregate is due at once: the item must be listed
//     in exactly one aggregated record;
//   - a delegate's FolderBind of one of three folders (added to the delegate
//     lists first): one record per delegate, mailbox and folder a day, whose
//     OperationCount must equal the binds acknowledged.
//
// Every item has a subject and Message-ID of its own, by which the records are
// counted.
func TestDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the daemon for about 20 s")
	}
	seed := *durabilitySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: run again with go test ./e2e -run TestDurability -durability.seed %d", seed, seed)
		}
	})
	dir := t.TempDir()
	d := &durDaemon{t: t, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "serve.log"),
		addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	ingestToken := d.cli("new-api-token", "durability-ingest", "--role", "ingest")
	auditorToken := d.cli("new-api-token", "durability-auditor", "--role", "auditor")
	for m := range durMailboxes {
		d.cli("new-mailbox", durOwner(m))
	}
	d.cli("set-mailbox", "--filter", "PrimarySmtpAddress -like 'dur*'", "--audit-delegate-add", "FolderBind")
	// Each commit seals a MailItemsAccessed record per mailbox, so a fast
	// daemon (small group commits) makes over 1,000 a mailbox in the run and
	// the throttle would stop binds: what is tested here is that nothing
	// answered 200 is lost, so every activity must be recorded or counted.
	d.cli("set-organization-config", "--mail-items-accessed-throttle", "1000000")
	d.start()
	t.Cleanup(d.kill)

	began := time.Now().UTC()
	deadline := began.Add(90 * time.Second)
	// stop ends the clients after their batch in flight; abort ends them at
	// once, when the test fails before they are done.
	stop, abort := make(chan struct{}), make(chan struct{})
	var (
		mu      sync.Mutex
		acked   = map[string]bool{} // items of activities answered 200
		binds   = map[string]int{}  // FolderBinds answered 200, by mailbox and folder
		st      durStats
		clients sync.WaitGroup
	)
	defer func() {
		close(abort)
		clients.Wait()
	}()
	for c := range *durabilityClients {
		clients.Add(1)
		go func() {
			defer clients.Done()
			r := rand.New(rand.NewPCG(seed, uint64(c)))
			hc := &http.Client{Timeout: 30 * time.Second}
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				ids, bound, body := durBatch(r, c, b, 1+r.IntN(200))
				res, err := durSend(hc, "http://"+d.addr, ingestToken, body, len(ids)+len(bound), deadline, abort, &st)
				if errors.Is(err, errDurAborted) {
					return
				}
				if err != nil {
					t.Errorf("client %d, batch %d (%d activities): %v", c, b, len(ids), err)
					return
				}
				mu.Lock()
				for _, id := range ids {
					acked[id] = true
				}
				for _, k := range bound {
					binds[k]++
				}
				mu.Unlock()
				st.batches.Add(1)
				st.duplicates.Add(int64(res.Duplicates))
				if res.Duplicates > 0 {
					st.dupBatches.Add(1)
				}
			}
		}()
	}

	// Kill the daemon at random moments, each time while the clients are
	// busy, and start it again on the same data directory.
	kr := rand.New(rand.NewPCG(seed, 1<<32))
	for range *durabilityKills {
		time.Sleep(time.Duration(150+kr.IntN(1500)) * time.Millisecond)
		if d.exited() {
			t.Fatalf("mailaudit serve exited on its own:\n%s", d.tail())
		}
		d.kill()
		st.kills.Add(1)
		// Sometimes at once, sometimes after the clients found it gone.
		time.Sleep(time.Duration(kr.IntN(300)) * time.Millisecond)
		d.start()
	}
	// The last daemon runs undisturbed for a while, then the clients stop
	// once their batch in flight is answered.
	time.Sleep(time.Second)
	close(stop)
	clients.Wait()
	if t.Failed() {
		t.FailNow()
	}
	nbinds := 0
	for _, n := range binds {
		nbinds += n
	}
	t.Logf("%d clients, %d kills: %d activities acknowledged in %d batches (%d of them FolderBinds); %d sends failed and were resent (%d connection errors, %d answered 503); %d resent batches had been committed before (%d duplicates skipped); ingest took %s",
		*durabilityClients, st.kills.Load(), len(acked)+nbinds, st.batches.Load(), nbinds, st.retries.Load(), st.connErrors.Load(), st.unavailable.Load(), st.dupBatches.Load(), st.duplicates.Load(), time.Since(began).Round(time.Millisecond))
	if st.retries.Load() == 0 {
		t.Errorf("no send failed: the kills did not interrupt any batch, the test proved nothing")
	}

	// Count every record of the window through the API, page by page.
	checked := time.Now()
	start, end := began.Add(-time.Hour).Format(time.RFC3339), time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	viaAPI := durSearchAPI(t, "http://"+d.addr, auditorToken, start, end)
	for _, p := range durCheck(acked, binds, viaAPI) {
		t.Error("API search: " + p)
	}
	apiTook := time.Since(checked)
	// And again with the command line on the store itself, once the daemon
	// has stopped as a service manager stops it.
	if err := d.term(); err != nil {
		t.Errorf("mailaudit serve did not stop cleanly on SIGTERM: %v\n%s", err, d.tail())
	}
	cliStart := time.Now()
	out := d.cli("search-unified-audit-log", "--start", start, "--end", end, "--result-size", "unlimited", "-o", "json")
	viaCLI := durCounts{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		viaCLI.add(t, sc.Bytes())
	}
	for _, p := range durCheck(acked, binds, viaCLI) {
		t.Error("local search: " + p)
	}
	t.Logf("checked %d acknowledged items and %d FolderBinds: through the API (pages of 1,000) in %s, with the command line in %s",
		len(acked), nbinds, apiTook.Round(time.Millisecond), time.Since(cliStart).Round(time.Millisecond))
}

// TestDurabilityCheck shows that the durability test's check finds what it
// looks for: a lost activity, one recorded twice, a record of nothing
// acknowledged, a record of something else, FolderBinds miscounted.
func TestDurabilityCheck(t *testing.T) {
	acked := map[string]bool{"a": true, "b": true, "c": true}
	binds := map[string]int{"m1 /Inbox": 3, "m2 /Archive": 1}
	ok := durCounts{"a": 1, "b": 1, "c": 1, durBindKey + "m1 /Inbox": 3, durBindKey + "m2 /Archive": 1}
	if p := durCheck(acked, binds, ok); len(p) != 0 {
		t.Errorf("a correct store: %q", p)
	}
	got := durCheck(acked, binds, durCounts{"a": 1, "b": 2, "x": 1, durOther: 1, durBindKey + "m1 /Inbox": 4, durBindKey + "m3 /Inbox": 1})
	want := []string{
		"1 acknowledged activities are not in the store, e.g. [c]",
		"1 acknowledged activities are in the store more than once, e.g. [b×2]",
		"1 records are of activities never acknowledged, e.g. [x×1]",
		"3 FolderBind counts differ from the binds acknowledged, e.g. [m1 /Inbox: counted 4, acknowledged 3 m2 /Archive: counted 0, acknowledged 1 m3 /Inbox: counted 1, acknowledged 0]",
		"1 records are of no activity of the test",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("check of a broken store:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

type durStats struct {
	batches, retries, connErrors, unavailable, duplicates, dupBatches, kills atomic.Int64
}

// durDaemon is mailaudit serve, started and killed over and over on one data
// directory and one port.
type durDaemon struct {
	t         *testing.T
	data, log string
	addr      string
	cmd       *exec.Cmd
	done      chan struct{}
	waitErr   error
	starts    int
}

func (d *durDaemon) cli(args ...string) string {
	d.t.Helper()
	cmd := exec.Command(binary, append([]string{"--data", d.data}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("mailaudit %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// start runs the daemon and waits until it serves.
func (d *durDaemon) start() {
	d.t.Helper()
	f, err := os.OpenFile(d.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	d.cmd = exec.Command(binary, "--data", d.data, "serve", "--listen", d.addr)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		d.waitErr = cmd.Wait()
		close(done)
	}(d.cmd, d.done)
	deadline := time.Now().Add(15 * time.Second)
	for {
		log, _ := os.ReadFile(d.log)
		if bytes.Count(log, []byte(`"msg":"mailaudit serving"`)) > d.starts {
			d.starts++
			return
		}
		if d.exited() || time.Now().After(deadline) {
			d.t.Fatalf("mailaudit serve did not start:\n%s", d.tail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *durDaemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// kill kills the daemon outright, as a crash or an OOM killer would.
func (d *durDaemon) kill() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Kill()
	<-d.done
	d.cmd = nil
}

// term stops the daemon with SIGTERM and returns how it exited.
func (d *durDaemon) term() error {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.kill()
		return errors.New("still running 30 s after SIGTERM")
	}
	d.cmd = nil
	return d.waitErr
}

func (d *durDaemon) tail() string {
	log, _ := os.ReadFile(d.log)
	if len(log) > 8000 {
		log = log[len(log)-8000:]
	}
	return string(log)
}

var durOperations = []string{"HardDelete", "SoftDelete", "Update"}

// durMailboxes is how many mailboxes the activity is spread across.
const durMailboxes = 16

func durOwner(m int) string { return fmt.Sprintf("dur%02d@example.org", m) }

const durDelegate = "durdelegate@example.org"

var durFolders = []string{"/Inbox", "/Archive", "/Projects"}

// durBatch makes client c's batch b of n activities, each with an id of its
// own ("c3-b17-i5") as SourceEventId, on one of sixteen mailboxes: most of
// them an owner's change or read of an item whose subject and Message-ID
// carry the id (ids lists those), one in ten a delegate's FolderBind (bound
// lists their mailbox and folder).
func durBatch(r *rand.Rand, c, b, n int) (ids, bound []string, body []byte) {
	var buf bytes.Buffer
	now := time.Now().UTC()
	for i := range n {
		id := fmt.Sprintf("c%d-b%d-i%d", c, b, i)
		owner := durOwner(r.IntN(durMailboxes))
		a := map[string]any{
			"SourceEventId":    id,
			"Source":           "durability",
			"CreationTime":     now.Add(time.Duration(i) * time.Microsecond).Format(time.RFC3339Nano),
			"UserId":           owner,
			"MailboxOwnerUPN":  owner,
			"ClientInfoString": "Client=REST;durability-test",
			"Folder":           map[string]string{"Path": "/Inbox"},
		}
		item := []map[string]any{{
			"Id":                fmt.Sprintf("INBOX:%d:%d", c, b*1000+i),
			"InternetMessageId": "<" + id + "@durability.example.org>",
			"Subject":           durSubject + id,
		}}
		switch k := r.IntN(10); {
		case k < 7:
			a["Operation"], a["Items"] = durOperations[r.IntN(len(durOperations))], item
			ids = append(ids, id)
		case k < 9:
			a["Operation"], a["Items"] = "MailItemsAccessed", item
			a["OperationProperties"] = []map[string]string{{"Name": "MailAccessType", "Value": "Bind"}}
			a["CreationTime"] = now.Add(-time.Hour + time.Duration(i)*time.Microsecond).Format(time.RFC3339Nano)
			ids = append(ids, id)
		default:
			folder := durFolders[r.IntN(len(durFolders))]
			a["Operation"], a["UserId"], a["Folder"] = "FolderBind", durDelegate, map[string]string{"Path": folder}
			bound = append(bound, owner+" "+folder)
		}
		line, _ := json.Marshal(a)
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return ids, bound, buf.Bytes()
}

const durSubject = "durability "

var errDurAborted = errors.New("the test ended")

// durReport is the part of an ingest answer the test reads.
type durReport struct {
	Read, Recorded, Aggregated, NotAudited, Duplicates, Refused int
}

// durSend posts a batch until it is answered 200. A refused or reset
// connection, a timeout or a 503 is answered by sending it again; anything
// else is a failure of the test.
func durSend(hc *http.Client, base, tok string, body []byte, n int, deadline time.Time, abort chan struct{}, st *durStats) (*durReport, error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			st.retries.Add(1)
			select {
			case <-abort:
				return nil, errDurAborted
			default:
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("still not answered 200 after %d attempts", attempt)
			}
			time.Sleep(time.Duration(5+attempt%20) * time.Millisecond)
		}
		req, _ := http.NewRequest("POST", base+"/api/v1/activity", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/jsonl")
		resp, err := hc.Do(req)
		if err != nil {
			st.connErrors.Add(1)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			// The daemon died while it answered.
			st.connErrors.Add(1)
			continue
		}
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			st.unavailable.Add(1)
			continue
		default:
			return nil, fmt.Errorf("answered %s: %s", resp.Status, b)
		}
		var rep durReport
		if err := json.Unmarshal(b, &rep); err != nil {
			return nil, fmt.Errorf("answer 200: %v: %s", err, b)
		}
		// Every activity is recorded or counted into a record, or was
		// already (a resent batch).
		if rep.Read != n || rep.Recorded+rep.Aggregated+rep.Duplicates != n || rep.NotAudited != 0 || rep.Refused != 0 {
			return nil, fmt.Errorf("answer 200 does not account for its %d activities: %s", n, b)
		}
		if attempt == 0 && rep.Duplicates != 0 {
			return nil, fmt.Errorf("a batch sent for the first time has duplicates: %s", b)
		}
		return &rep, nil
	}
}

// durSearchAPI counts the records of the window through the API's unified
// search, following the cursor page by page.
func durSearchAPI(t *testing.T, base, tok, start, end string) durCounts {
	t.Helper()
	counts := durCounts{}
	cursor := ""
	for pages := 0; ; pages++ {
		q := url.Values{"start": {start}, "end": {end}, "result-size": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		req, _ := http.NewRequest("GET", base+"/api/v1/unified-audit-log?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("searching: %v", err)
		}
		var page struct {
			Records []json.RawMessage
			Next    string
			Error   *struct{ Code, Message string }
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || page.Error != nil {
			t.Fatalf("search page %d: %s, %v, %+v", pages, resp.Status, err, page.Error)
		}
		for _, r := range page.Records {
			counts.add(t, r)
		}
		if page.Next == "" {
			return counts
		}
		if page.Next == cursor {
			t.Fatalf("search page %d: the cursor %q does not move", pages, cursor)
		}
		cursor = page.Next
	}
}

// durOther counts the records that are of no activity of the test.
const durOther = "(other)"

// durBindKey prefixes the FolderBind counts of durCounts.
const durBindKey = "FolderBind "

// durCounts counts, per activity id, the records that list its item, and per
// mailbox and folder (durBindKey + "dur03@example.org /Inbox") the delegate's
// FolderBinds.
type durCounts map[string]int

// add counts one record (JSON). Admin records (of the mailboxes, their list
// change, the retention runs) are left out.
func (c durCounts) add(t *testing.T, rec []byte) {
	t.Helper()
	type item struct{ Subject string }
	var r struct {
		RecordType      int
		Operation       string
		MailboxOwnerUPN string
		OperationCount  int
		Folder          *struct{ Path string }
		Item            *item
		AffectedItems   []item
		Folders         []struct{ FolderItems []item }
	}
	if err := json.Unmarshal(rec, &r); err != nil {
		t.Fatalf("record: %v: %s", err, rec)
	}
	switch {
	case r.RecordType == 1:
		return
	case r.Operation == "FolderBind" && r.Folder != nil:
		c[durBindKey+r.MailboxOwnerUPN+" "+r.Folder.Path] += r.OperationCount
		return
	}
	var items []item
	if r.Item != nil {
		items = append(items, *r.Item)
	}
	items = append(items, r.AffectedItems...)
	for _, f := range r.Folders {
		items = append(items, f.FolderItems...)
	}
	// A record of one item, or an aggregate of reads: each item of the test
	// counted under its id.
	if len(items) == 0 || (len(items) > 1 && r.Operation != "MailItemsAccessed") {
		c[durOther]++
		return
	}
	for _, it := range items {
		if !strings.HasPrefix(it.Subject, durSubject) {
			c[durOther]++
			continue
		}
		c[strings.TrimPrefix(it.Subject, durSubject)]++
	}
}

// durCheck compares the acknowledged activities with the records counted,
// and says what is wrong.
func durCheck(acked map[string]bool, binds map[string]int, counts durCounts) []string {
	var missing, twice, unknown, miscounted []string
	for id := range acked {
		switch n := counts[id]; {
		case n == 0:
			missing = append(missing, id)
		case n > 1:
			twice = append(twice, fmt.Sprintf("%s×%d", id, n))
		}
	}
	for id, n := range counts {
		if k, ok := strings.CutPrefix(id, durBindKey); ok {
			if binds[k] != n {
				miscounted = append(miscounted, fmt.Sprintf("%s: counted %d, acknowledged %d", k, n, binds[k]))
			}
			continue
		}
		if !acked[id] && id != durOther {
			unknown = append(unknown, fmt.Sprintf("%s×%d", id, n))
		}
	}
	for k, n := range binds {
		if _, ok := counts[durBindKey+k]; !ok {
			miscounted = append(miscounted, fmt.Sprintf("%s: counted 0, acknowledged %d", k, n))
		}
	}
	var problems []string
	for _, p := range []struct {
		what string
		ids  []string
	}{
		{"acknowledged activities are not in the store", missing},
		{"acknowledged activities are in the store more than once", twice},
		{"records are of activities never acknowledged", unknown},
		{"FolderBind counts differ from the binds acknowledged", miscounted},
	} {
		if len(p.ids) > 0 {
			sort.Strings(p.ids)
			problems = append(problems, fmt.Sprintf("%d %s, e.g. %v", len(p.ids), p.what, p.ids[:min(len(p.ids), 10)]))
		}
	}
	if n := counts[durOther]; n > 0 {
		problems = append(problems, fmt.Sprintf("%d records are of no activity of the test", n))
	}
	return problems
}
