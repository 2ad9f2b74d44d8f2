package audit

import (
	"errors"
	"fmt"
)

// Error codes of the application. Faces map them to exit codes and HTTP
// statuses in one place each (cli and httpapi).
const (
	EInvalid  = "invalid"   // refused input; the message says why
	ENotFound = "not_found" // no such mailbox, search, baseline
	EConflict = "conflict"  // an identity matched several objects
	EInternal = "internal"  // anything else
)

// Error is an application error: a code and a message fit to show a user.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an application error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, EInternal for any other.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
