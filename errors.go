// Package lunas holds the vocabulary every part of the service shares: the
// kinds of domain error that the HTTP layer maps to status codes in one place,
// and the field-level validation error that names every bad field at once.
//
// Domain packages (invoice, ledger, gateway) return these kinds wrapped with
// context; api.problem turns them into RFC 9457 problem documents.
package lunas

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error for the edge that has to answer for it
// (an HTTP status, an asynq retry decision).
type Kind int

const (
	KindInternal    Kind = iota // a bug or an unexpected failure: 500, retried by tasks
	KindInvalid                 // bad input: 400
	KindNotFound                // no such thing: 404
	KindConflict                // the state forbids it: 409
	KindForbidden               // authenticated but not allowed: 403
	KindGateway                 // the payment gateway refused or failed: 502
	KindUnavailable             // a dependency is down, try again: 503
	KindTooLarge                // body over the limit: 413
)

// Error is a domain error with a kind and a message safe to show a client.
type Error struct {
	Kind    Kind
	Message string // shown to clients: never SQL, secrets or stack traces
	Err     error  // the cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// E builds a domain error of kind k with a client-safe message.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds a domain error of kind k whose cause is err (kept for logs).
func Wrap(k Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Err: err}
}

// KindOf reports the kind of err: the kind of the outermost *Error in its
// chain, KindInvalid for a *ValidationError, KindInternal otherwise.
func KindOf(err error) Kind {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return KindInvalid
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// FieldError names one bad field of a request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError collects every bad field of one request, so a client can
// fix them all in one round trip.
type ValidationError struct {
	Fields []FieldError
}

func (v *ValidationError) Error() string {
	parts := make([]string, len(v.Fields))
	for i, f := range v.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Add records a bad field.
func (v *ValidationError) Add(field, format string, args ...any) {
	v.Fields = append(v.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns v when it holds at least one field, nil otherwise.
func (v *ValidationError) Err() error {
	if v == nil || len(v.Fields) == 0 {
		return nil
	}
	return v
}
