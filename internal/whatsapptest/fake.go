// Package whatsapptest is a fake Fonnte-compatible WhatsApp gateway over
// HTTP, for tests and for `make run`'s demo stack (cmd/fakegw): POST a form
// with target and message, header Authorization: <token>; it answers
// {"status":true} or {"status":false,"reason":…}. It keeps every accepted
// message, so a test can count what was delivered, and what twice.
package whatsapptest

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Message is one message the fake accepted.
type Message struct {
	Target  string    `json:"target"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// Server is the fake gateway.
type Server struct {
	token string
	mu    sync.Mutex
	msgs  []Message
	// failures queued by Fail: answered, in order, instead of accepting.
	failures []failure
}

type failure struct {
	status int    // HTTP status; 200 with reason for a Fonnte refusal
	reason string // "" with status >= 500: a bare server error
}

// New returns a fake that accepts the token.
func New(token string) *Server { return &Server{token: token} }

// Fail makes the next n sends fail: with HTTP status (e.g. 503, a
// transient error) or, when status is 200, Fonnte's {"status":false} with
// reason (e.g. "invalid target").
func (s *Server) Fail(n, status int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, reason})
	}
}

// Messages returns what was accepted, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Duplicates counts accepted messages that repeat an earlier one (same
// target and text).
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[[2]string]bool{}
	n := 0
	for _, m := range s.msgs {
		k := [2]string{m.Target, m.Message}
		if seen[k] {
			n++
		}
		seen[k] = true
	}
	return n
}

// ServeHTTP serves POST /send (any path but /_test/messages), and
// GET /_test/messages (what was accepted, as JSON).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/_test/messages" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Messages())
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	answer := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("Authorization") != s.token {
		answer(200, map[string]any{"status": false, "reason": "invalid token"})
		return
	}
	if err := r.ParseForm(); err != nil {
		answer(200, map[string]any{"status": false, "reason": "bad form"})
		return
	}
	target, text := r.PostForm.Get("target"), r.PostForm.Get("message")
	if target == "" || text == "" {
		answer(200, map[string]any{"status": false, "reason": "target and message are required"})
		return
	}
	s.mu.Lock()
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		if f.status != 200 {
			http.Error(w, "fake failure", f.status)
			return
		}
		answer(200, map[string]any{"status": false, "reason": f.reason})
		return
	}
	s.msgs = append(s.msgs, Message{Target: target, Message: text, At: time.Now()})
	s.mu.Unlock()
	answer(200, map[string]any{"status": true, "detail": "success! message in queue", "id": []string{"fake"}, "target": []string{target}})
}
