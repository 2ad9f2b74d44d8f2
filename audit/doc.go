// Package audit holds mailaudit's domain: the operations and logon types of
// Exchange mailbox auditing, the audit profiles and baselines, the directory
// (mailboxes, permission grants, bypass associations, the organisation), the
// activity that sources report and the audit records kept, and the engine that
// turns one into the other.
//
// Everything about Exchange semantics lives here and nowhere else. The package
// does no I/O: the engine is a pure function of the directory, the volume-control
// state and the activity, so that it can be tested exhaustively against the rule
// book (shared/spec/policy.md). Storage, sources and faces depend on this package;
// it depends on none of them.
package audit
