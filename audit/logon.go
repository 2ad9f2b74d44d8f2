package audit

import (
	"fmt"
	"strings"
)

// LogonType says who acted on a mailbox. The values are Microsoft 365's codes.
type LogonType uint8

// The logon types of policy.md.
const (
	Owner    LogonType = 0
	Admin    LogonType = 1
	Delegate LogonType = 2
)

// LogonTypes lists the three logon types in the order Exchange prints them.
var LogonTypes = []LogonType{Admin, Delegate, Owner}

func (lt LogonType) String() string {
	switch lt {
	case Owner:
		return "Owner"
	case Admin:
		return "Admin"
	case Delegate:
		return "Delegate"
	}
	return fmt.Sprintf("LogonType(%d)", lt)
}

// ParseLogonType reads Owner, Admin or Delegate, case-insensitively.
func ParseLogonType(s string) (LogonType, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "owner":
		return Owner, true
	case "admin":
		return Admin, true
	case "delegate":
		return Delegate, true
	}
	return 0, false
}

// LogonSet is a set of logon types, as in a mailbox's DefaultAuditSet.
type LogonSet uint8

// AllLogons is Admin, Delegate and Owner.
const AllLogons LogonSet = 1<<Owner | 1<<Admin | 1<<Delegate

// Has reports whether lt is in the set.
func (s LogonSet) Has(lt LogonType) bool { return s&(1<<lt) != 0 }

// With returns the set with lt added.
func (s LogonSet) With(lt LogonType) LogonSet { return s | 1<<lt }

// Without returns the set with lt removed.
func (s LogonSet) Without(lt LogonType) LogonSet { return s &^ (1 << lt) }

// Names lists the set as Exchange prints it: Admin, Delegate, Owner.
func (s LogonSet) Names() []string {
	names := []string{}
	for _, lt := range LogonTypes {
		if s.Has(lt) {
			names = append(names, lt.String())
		}
	}
	return names
}

func (s LogonSet) String() string { return strings.Join(s.Names(), ",") }
