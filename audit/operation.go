package audit

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Operation is a mailbox action that can be audited.
//
// The numeric values are part of the on-disk format of volume-control state and
// must never be reordered; the order is also the order of policy.md's validity
// table, which the refusal texts follow.
type Operation uint8

// The operations of policy.md, in the order of its validity table.
const (
	OpNone Operation = iota
	ApplyRecord
	Copy
	Create
	FolderBind
	HardDelete
	MailboxLogin
	MailItemsAccessed
	MessageBind
	Move
	MoveToDeletedItems
	RecordDelete
	SearchQueryInitiated
	Send
	SendAs
	SendOnBehalf
	SoftDelete
	Update
	UpdateCalendarDelegation
	UpdateComplianceTag
	UpdateFolderPermissions
	UpdateInboxRules
	opCount
)

var opNames = [opCount]string{
	"", "ApplyRecord", "Copy", "Create", "FolderBind", "HardDelete", "MailboxLogin",
	"MailItemsAccessed", "MessageBind", "Move", "MoveToDeletedItems", "RecordDelete",
	"SearchQueryInitiated", "Send", "SendAs", "SendOnBehalf", "SoftDelete", "Update",
	"UpdateCalendarDelegation", "UpdateComplianceTag", "UpdateFolderPermissions", "UpdateInboxRules",
}

var opFriendly = [opCount]string{
	"", "Labeled message as a record", "Copied messages to another folder", "Created mailbox item",
	"Accessed mailbox folder", "Purged messages from the mailbox", "User signed in to mailbox",
	"Accessed mailbox items", "Opened message", "Moved messages to another folder",
	"Moved messages to Deleted Items folder", "Deleted record", "Performed mailbox search",
	"Sent message", "Sent message using Send As permissions", "Sent message using Send On Behalf permissions",
	"Deleted messages from Deleted Items folder", "Updated message",
	"Added or removed user with delegate access to calendar folder", "Changed retention label",
	"Added/Modified/Removed permissions of folder", "Updated inbox rule",
}

// folded are names Exchange accepts on input and stores as another operation.
var folded = map[string]Operation{
	"addfolderpermissions":    UpdateFolderPermissions,
	"modifyfolderpermissions": UpdateFolderPermissions,
	"removefolderpermissions": UpdateFolderPermissions,
}

var opByName = func() map[string]Operation {
	m := make(map[string]Operation, opCount)
	for op := ApplyRecord; op < opCount; op++ {
		m[strings.ToLower(opNames[op])] = op
	}
	for k, v := range folded {
		m[k] = v
	}
	return m
}()

// AllOperations lists every operation in validity-table order.
func AllOperations() []Operation {
	ops := make([]Operation, 0, opCount-1)
	for op := ApplyRecord; op < opCount; op++ {
		ops = append(ops, op)
	}
	return ops
}

// ParseOperation reads an operation name, case-insensitively, accepting the
// folded permission names. It reports false for an unknown name.
func ParseOperation(s string) (Operation, bool) {
	op, ok := opByName[strings.ToLower(strings.TrimSpace(s))]
	return op, ok
}

func (op Operation) String() string {
	if op < opCount {
		return opNames[op]
	}
	return fmt.Sprintf("Operation(%d)", op)
}

// FriendlyName is the activity name the Microsoft 365 audit log search shows.
func (op Operation) FriendlyName() string {
	if op < opCount {
		return opFriendly[op]
	}
	return ""
}

// MarshalJSON writes the canonical name.
func (op Operation) MarshalJSON() ([]byte, error) { return json.Marshal(op.String()) }

// UnmarshalJSON reads a name as ParseOperation does.
func (op *Operation) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json does: null leaves the field unset
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("Operation must be a string")
	}
	v, ok := ParseOperation(s)
	if !ok {
		return fmt.Errorf("unknown operation %q", s)
	}
	*op = v
	return nil
}

// OpSet is a set of operations.
type OpSet uint32

// Ops builds a set.
func Ops(ops ...Operation) OpSet {
	var s OpSet
	for _, op := range ops {
		s |= 1 << op
	}
	return s
}

// Has reports whether op is in the set.
func (s OpSet) Has(op Operation) bool { return s&(1<<op) != 0 }

// Slice lists the set in validity-table order.
func (s OpSet) Slice() []Operation {
	var ops []Operation
	for op := ApplyRecord; op < opCount; op++ {
		if s.Has(op) {
			ops = append(ops, op)
		}
	}
	return ops
}

// Names lists the names in validity-table order; never nil, so JSON shows [].
func (s OpSet) Names() []string {
	names := []string{}
	for _, op := range s.Slice() {
		names = append(names, op.String())
	}
	return names
}

func (s OpSet) String() string {
	if s == 0 {
		return "None"
	}
	return strings.Join(s.Names(), ",")
}

// Len counts the operations in the set.
func (s OpSet) Len() int {
	n := 0
	for op := ApplyRecord; op < opCount; op++ {
		if s.Has(op) {
			n++
		}
	}
	return n
}
