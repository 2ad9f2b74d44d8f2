package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mailaudit/mailaudit/audit"
)

// SaveAuditLogSearch creates or replaces a background search: one row of the
// search table, keyed by its GUID, holding it as JSON.
func (s *Store) SaveAuditLogSearch(ctx context.Context, as *audit.AuditLogSearch) error {
	ctx = context.WithoutCancel(ctx)
	if s.readOnly {
		return s.errReadOnly("saving search " + as.Identity.String())
	}
	b, err := json.Marshal(as)
	if err != nil {
		return fmt.Errorf("sqlite: saving search %s: %w", as.Identity, err)
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	_, err = s.w.ExecContext(ctx, `INSERT INTO search (id, created, data) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data`, as.Identity.String(), as.CreationTime.UnixNano(), string(b))
	return s.wrap("saving search "+as.Identity.String(), err)
}

// AuditLogSearches lists the background searches, oldest first.
func (s *Store) AuditLogSearches(ctx context.Context) ([]*audit.AuditLogSearch, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT data FROM search ORDER BY created, id`)
	if err != nil {
		return nil, s.wrap("listing searches", err)
	}
	defer rows.Close()
	var out []*audit.AuditLogSearch
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, s.wrap("listing searches", err)
		}
		as := new(audit.AuditLogSearch)
		if err := json.Unmarshal([]byte(data), as); err != nil {
			return nil, fmt.Errorf("sqlite: a saved search is damaged: %w", err)
		}
		out = append(out, as)
	}
	return out, s.wrap("listing searches", rows.Err())
}
