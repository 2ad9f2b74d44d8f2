package dovecot

import (
	"encoding/json"
	"fmt"
	"time"
)

// State and Restore persist the per-session state across restarts (JSON), so that a session that began before a restart (its auth event, with master_user, before the saved position) is still classified right after it.
//
// The state holds, per live session, its user, master user, client address
// and IMAP ID, and the mail_log lines, mail_expunged events and commands not
// yet turned into activity; plus the latest log time seen. Save it together with the log position
// the translator has read up to, and Restore it before reading on from there.
func (t *Translator) State() ([]byte, error) {
	return json.Marshal(&t.st)
}

// Restore replaces the translator's state with one State returned. On error
// the translator keeps the state it had.
func (t *Translator) Restore(state []byte) error {
	var st trState
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("dovecot translator state: %v", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("dovecot translator state: version %d, this mailaudit reads version %d", st.Version, stateVersion)
	}
	if st.Sessions == nil {
		st.Sessions = map[string]*sessionState{}
	}
	for id, s := range st.Sessions {
		if s == nil {
			delete(st.Sessions, id)
		}
	}
	t.st = st
	return nil
}

// Latest is the latest time the translator has seen in the log (zero: none
// yet): when the line before the saved position was written, or later.
func (t *Translator) Latest() time.Time { return t.st.Now }
