package httpapi

import (
	"context"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
)

// NewAuditLogSearch queues a background search.
func (c *Client) NewAuditLogSearch(ctx context.Context, _ string, spec service.NewAuditLogSearchSpec) (*audit.AuditLogSearch, error) {
	body := NewAuditLogSearch{Name: spec.Name, Mailboxes: spec.Mailboxes, LogonTypes: spec.LogonTypes, Operations: spec.Operations,
		ShowDetails: spec.ShowDetails, ExternalAccess: spec.ExternalAccess, StatusMailRecipients: spec.StatusMailRecipients, Formats: spec.Formats}
	if !spec.StartDate.IsZero() {
		body.StartDate = spec.StartDate.UTC().Format(time.RFC3339Nano)
	}
	if !spec.EndDate.IsZero() {
		body.EndDate = spec.EndDate.UTC().Format(time.RFC3339Nano)
	}
	var out AuditLogSearchJSON
	if err := c.get(ctx, "POST", "/api/v1/audit-log-searches", nil, body, &out); err != nil {
		return nil, err
	}
	return out.search(), nil
}

// AuditLogSearches lists background searches.
func (c *Client) AuditLogSearches(ctx context.Context, q service.AuditLogSearchQuery) ([]*audit.AuditLogSearch, error) {
	v := url.Values{}
	if q.Identity != "" {
		v.Set("identity", q.Identity)
	}
	if !q.CreatedAfter.IsZero() {
		v.Set("created-after", q.CreatedAfter.UTC().Format(time.RFC3339Nano))
	}
	if !q.CreatedBefore.IsZero() {
		v.Set("created-before", q.CreatedBefore.UTC().Format(time.RFC3339Nano))
	}
	v.Set("result-size", strconv.Itoa(q.ResultSize))
	var list []AuditLogSearchJSON
	if err := c.get(ctx, "GET", "/api/v1/audit-log-searches", v, nil, &list); err != nil {
		return nil, err
	}
	out := make([]*audit.AuditLogSearch, 0, len(list))
	for i := range list {
		out = append(out, list[i].search())
	}
	return out, nil
}

// AuditLogSearchResult downloads a finished search's result.
func (c *Client) AuditLogSearchResult(ctx context.Context, identity, format string) (io.ReadCloser, error) {
	resp, err := c.call(ctx, "GET", "/api/v1/audit-log-searches/"+url.PathEscape(identity)+"/result", url.Values{"format": {format}}, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
