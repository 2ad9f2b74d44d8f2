package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Volume is the state of the volume controls: delegate FolderBind windows,
// open MailItemsAccessed aggregates, the items bound in the last hour, the
// MailItemsAccessed throttle of each mailbox and the sessions whose login was
// recorded. It is kept by the store as entries (Entries, Load) so that every
// node and every restart sees the same state.
//
// Entry keys are "<kind>:<key>"; values are JSON. Kinds: fb (FolderBind
// window), ag (open aggregate), seen (items bound per context), th (throttle),
// login (session logged in).
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
			err = json.Unmarshal(e.Value, &a)
			v.aggregates[key] = &a
		case "seen":
			m := map[string]time.Time{}
			err = json.Unmarshal(e.Value, &m)
			v.seen[key] = m
		case "th":
			var t throttle
			var g uuid.UUID
			if g, err = uuid.Parse(key); err == nil {
				err = json.Unmarshal(e.Value, &t)
				v.throttles[g] = &t
			}
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
		case "th":
			if t := v.throttles[uuid.MustParse(key)]; t != nil {
				val = t
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

// prune drops state that can no longer matter at time now.
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
			v.touch("th", g.String())
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

// Open counts the aggregates not yet sealed.
func (v *Volume) Open() int { return len(v.aggregates) }
