package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lunas-id/lunas"
)

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Detail string             `json:"detail,omitempty"`
	Errors []lunas.FieldError `json:"errors,omitempty"`
}

// statusOf is the one place where domain error kinds become HTTP statuses.
var statusOf = map[lunas.Kind]int{
	lunas.KindInternal:    http.StatusInternalServerError,
	lunas.KindInvalid:     http.StatusBadRequest,
	lunas.KindNotFound:    http.StatusNotFound,
	lunas.KindConflict:    http.StatusConflict,
	lunas.KindForbidden:   http.StatusForbidden,
	lunas.KindGateway:     http.StatusBadGateway,
	lunas.KindUnavailable: http.StatusServiceUnavailable,
	lunas.KindTooLarge:    http.StatusRequestEntityTooLarge,
}

var typeOf = map[int]string{
	400: "invalid-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
	409: "conflict", 413: "too-large", 500: "internal", 502: "gateway-error", 503: "unavailable",
}

func writeProblem(w http.ResponseWriter, status int, detail string, fields []lunas.FieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{
		Type: "https://lunas.dev/problems/" + typeOf[status], Title: http.StatusText(status), Status: status, Detail: detail, Errors: fields,
	})
}

// writeError answers err as a problem. Internal errors are logged with
// their cause and answered without it: no SQL, no stack, no secret.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *lunas.ValidationError
	if errors.As(err, &ve) {
		writeProblem(w, http.StatusBadRequest, "the request has invalid fields", ve.Fields)
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body is larger than the limit", nil)
		return
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		// The database deadline passed (deadline.go): whatever was begun
		// was rolled back; the client retries.
		s.log.Warn("request past its database deadline", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "the database did not answer in time; retry later", nil)
		return
	}
	kind := lunas.KindOf(err)
	status := statusOf[kind]
	var de *lunas.Error
	detail := "internal error"
	if kind != lunas.KindInternal && errors.As(err, &de) {
		detail = de.Message
	}
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeProblem(w, status, detail, nil)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
