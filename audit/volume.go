package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Volume is the state of the volume controls: delegate FolderBind windows,
// open MailItemsAccessed aggregates, the items bound in the last hour, the
// MailItemsAccessed throttle of each mailbox and the sessions whose login was
// recorded. It is kept by the store as entries (Changes, Load) so that every
// node and every restart sees the same state.
//
// Entry keys are "<kind>:<key>"; values are JSON. Kinds: fb (FolderBind
// window), ag (open aggregate), seen (items bound per context), login (session
// logged in). The throttles are not entries: they count the mailboxes'
// MailItemsAccessed records of the last 24 hours, which the store holds
// already, and Recount rebuilds them from those records. Saved as entries, a
// throttle was rewritten with every MailItemsAccessed record of its mailbox (as
// many writes as records) and deleted and made again as records aged out of the
// day. Entries of kind th, which earlier versions wrote, are read as nothing
// and deleted by the next Changes.
type Volume struct {
	folderBinds map[string]*bindWindow
	aggregates  map[string]*aggregate
	seen        map[string]map[string]time.Time
	throttles   map[uuid.UUID]*throttle
	logins      map[string]time.Time
	// dirty holds the entries changed since Changes, kind and key apart:
	// joining them on every touch cost more than the rest of touching.
	dirty map[volumeKey]bool
}

type volumeKey struct{ kind, key string }

type bindWindow struct {
	Start time.Time `json:"s"`
	Seq   int64     `json:"q"`
	Count int       `json:"n"`
}

type aggregate struct {
	Start  time.Time `json:"s"`
	Record *Record   `json:"r"`
}

type throttle struct {
	// Times of the mailbox's MailItemsAccessed records in the last 24 hours.
	Times []time.Time `json:"t"`
	Until time.Time   `json:"u,omitempty"`
}

// VolumeEntry is one persisted piece of volume state. A nil Value deletes it.
type VolumeEntry struct {
	Key   string
	Value []byte
}

// NewVolume makes empty volume state.
func NewVolume() *Volume {
	return &Volume{
		folderBinds: map[string]*bindWindow{},
		aggregates:  map[string]*aggregate{},
		seen:        map[string]map[string]time.Time{},
		throttles:   map[uuid.UUID]*throttle{},
		logins:      map[string]time.Time{},
		dirty:       map[volumeKey]bool{},
	}
}

// Load restores state from persisted entries.
func (v *Volume) Load(entries []VolumeEntry) error {
	for _, e := range entries {
		kind, key, _ := strings.Cut(e.Key, ":")
		var err error
		switch kind {
		case "fb":
			var w bindWindow
			err = json.Unmarshal(e.Value, &w)
			v.folderBinds[key] = &w
		case "ag":
			var a aggregate
			if err = json.Unmarshal(e.Value, &a); err == nil && a.Record == nil {
				err = errors.New("no record")
			}
			v.aggregates[key] = &a
		case "seen":
			m := map[string]time.Time{}
			err = json.Unmarshal(e.Value, &m)
			v.seen[key] = m
		case "th":
			v.touch("th", key)
		case "login":
			var t time.Time
			err = json.Unmarshal(e.Value, &t)
			v.logins[key] = t
		default:
			err = fmt.Errorf("unknown kind %q", kind)
		}
		if err != nil {
			return fmt.Errorf("audit: volume state entry %q: %w", e.Key, err)
		}
	}
	return nil
}

// Changes returns the entries changed since the last call, for the store to
// write in the same transaction as the records they go with.
func (v *Volume) Changes() []VolumeEntry {
	out := make([]VolumeEntry, 0, len(v.dirty))
	for k := range v.dirty {
		kind, key := k.kind, k.key
		var val any
		switch kind {
		case "fb":
			if w := v.folderBinds[key]; w != nil {
				val = w
			}
		case "ag":
			if a := v.aggregates[key]; a != nil {
				val = a
			}
		case "seen":
			if m := v.seen[key]; m != nil {
				val = m
			}
		case "login":
			if t, ok := v.logins[key]; ok {
				val = t
			}
		}
		e := VolumeEntry{Key: kind + ":" + key}
		if val != nil {
			e.Value, _ = json.Marshal(val)
		}
		out = append(out, e)
	}
	clear(v.dirty)
	return out
}

func (v *Volume) touch(kind, key string) { v.dirty[volumeKey{kind, key}] = true }

// prune drops state that can no longer matter to activity after now, the
// newest activity's time. Not the wall clock's: activity of an earlier day
// ingested late (a backlog, an import in several runs) must find its windows
// where the records before it left them.
func (v *Volume) prune(now time.Time) {
	for k, w := range v.folderBinds {
		if !now.Before(w.Start.Add(folderBindWindow)) {
			delete(v.folderBinds, k)
			v.touch("fb", k)
		}
	}
	for k, m := range v.seen {
		for item, t := range m {
			if !now.Before(t.Add(itemDedupWindow)) {
				delete(m, item)
			}
		}
		if len(m) == 0 {
			delete(v.seen, k)
			v.touch("seen", k)
		}
	}
	for g, t := range v.throttles {
		if t.prune(now) && t.Until.Before(now) {
			delete(v.throttles, g)
		}
	}
	for k, t := range v.logins {
		if !now.Before(t.Add(24 * time.Hour)) {
			delete(v.logins, k)
			v.touch("login", k)
		}
	}
}

// prune drops times older than 24 hours and reports whether none are left.
func (t *throttle) prune(now time.Time) bool {
	cut := 0
	for cut < len(t.Times) && !now.Before(t.Times[cut].Add(24*time.Hour)) {
		cut++
	}
	t.Times = t.Times[cut:]
	return len(t.Times) == 0
}

// Recount rebuilds the MailItemsAccessed throttles from the store's records:
// the MailItemsAccessed records created in the 24 hours before the newest one
// (older ones are let go of as activity moves the clock on), in any order. With
// the open aggregates that Load restored, whose records the store does not have
// yet, that is every record the throttles counted. It replaces the throttles.
// Where a mailbox's age limit is shorter than a day, retention may have deleted
// some: its throttle then starts lower, so that more is recorded, never less.
func (v *Volume) Recount(records iter.Seq[*Record]) {
	clear(v.throttles)
	add := func(g uuid.UUID, t time.Time) *throttle {
		th := v.throttles[g]
		if th == nil {
			th = &throttle{}
			v.throttles[g] = th
		}
		th.Times = append(th.Times, t)
		return th
	}
	for r := range records {
		// Every MailItemsAccessed record counts, Bind and Sync (countAccess).
		if r.Operation != MailItemsAccessed.String() {
			continue
		}
		th := add(r.MailboxGuid, r.CreationTime)
		if r.Property("IsThrottled") == "True" {
			if until := r.CreationTime.Add(throttlePeriod); until.After(th.Until) {
				th.Until = until
			}
		}
	}
	for _, ag := range v.aggregates {
		add(ag.Record.MailboxGuid, ag.Start)
	}
	for _, th := range v.throttles {
		slices.SortFunc(th.Times, time.Time.Compare)
	}
}

// Open counts the aggregates not yet sealed.
func (v *Volume) Open() int { return len(v.aggregates) }
