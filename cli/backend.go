package cli

import (
	"context"
	"io"

	"github.com/mailaudit/mailaudit/audit"
	"github.com/mailaudit/mailaudit/service"
)

// backend is what the commands ask of mailaudit: the service over the local
// data directory, or a daemon over HTTP with --server (httpapi.Client). Both
// answer with the same types, so every command prints the same either way.
type backend interface {
	Organization(ctx context.Context) (audit.Organization, error)
	NewMailbox(ctx context.Context, actor string, spec service.NewMailboxSpec) (*audit.Mailbox, error)
	Mailboxes(ctx context.Context, q service.MailboxQuery) ([]*audit.Mailbox, error)
	SetMailbox(ctx context.Context, actor string, q service.MailboxQuery, ch audit.MailboxChange, params []audit.NameValue) ([]service.Result, error)
	RemoveMailbox(ctx context.Context, actor string, q service.MailboxQuery) ([]service.Result, error)
	AddPermission(ctx context.Context, actor, identity, user, rights string) (service.Result, error)
	RemovePermission(ctx context.Context, actor, identity, user, rights string) (service.Result, error)
	Permissions(ctx context.Context, identity string) ([]service.PermissionView, error)
	SetOrganization(ctx context.Context, actor string, ch service.OrgChange, params []audit.NameValue) (service.Result, []string, error)
	Bypasses(ctx context.Context, identity string) ([]audit.Bypass, error)
	SetBypass(ctx context.Context, actor string, q service.MailboxQuery, enabled bool) ([]service.Result, error)
	TestBaseline(ctx context.Context, name string) ([]service.BaselineResult, error)
	SetBaseline(ctx context.Context, actor, name string) ([]service.Result, error)
	Ingest(ctx context.Context, in io.Reader, opt service.IngestOptions) (*service.IngestReport, error)
	Flush(ctx context.Context) error
	SearchMailboxAuditLog(ctx context.Context, p service.MailboxSearch, fn func(*audit.Record) error) (string, error)
	SearchUnifiedAuditLog(ctx context.Context, p service.UnifiedSearch, fn func(*audit.Record) error) (string, error)
	Retain(ctx context.Context, actor string) (int64, error)
	NewAuditLogSearch(ctx context.Context, actor string, spec service.NewAuditLogSearchSpec) (*audit.AuditLogSearch, error)
	AuditLogSearches(ctx context.Context, q service.AuditLogSearchQuery) ([]*audit.AuditLogSearch, error)
	AuditLogSearchResult(ctx context.Context, identity, format string) (io.ReadCloser, error)
	NonOwnerAccessReport(ctx context.Context, spec service.NonOwnerReportSpec) (*service.NonOwnerReport, error)
	AuditConfigurationReport(ctx context.Context, q service.MailboxQuery) (*service.AuditConfigReport, error)
}

// local adapts the service to backend: its reads of the in-memory directory
// take no context and cannot fail for I/O.
type local struct{ *service.Service }

func (l local) Organization(context.Context) (audit.Organization, error) {
	return l.Service.Organization(), nil
}

func (l local) Mailboxes(_ context.Context, q service.MailboxQuery) ([]*audit.Mailbox, error) {
	return l.Service.Mailboxes(q)
}

func (l local) Permissions(_ context.Context, identity string) ([]service.PermissionView, error) {
	return l.Service.Permissions(identity)
}

func (l local) Bypasses(_ context.Context, identity string) ([]audit.Bypass, error) {
	return l.Service.Bypasses(identity)
}

func (l local) TestBaseline(_ context.Context, name string) ([]service.BaselineResult, error) {
	return l.Service.TestBaseline(name)
}
