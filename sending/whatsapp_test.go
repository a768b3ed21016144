package sending

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// The gateway's answers decide what a bulk sending does with a message:
// nil is sent, a transient error is retried with backoff, any other error
// fails the item for good. Each answer below is one the Fonnte-compatible
// API gives (or an outage gives).
func TestWhatsAppAnswersAreClassified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		status    int
		body      string
		wantErr   bool
		transient bool
	}{
		{"accepted", 200, `{"status":true,"detail":"success! message in queue","id":["80367170"],"process":"pending"}`, false, false},
		{"device disconnected", 200, `{"status":false,"reason":"device disconnected"}`, true, true},
		{"rate limited", 200, `{"status":false,"reason":"rate limit exceeded"}`, true, true},
		{"invalid target", 200, `{"status":false,"reason":"invalid target"}`, true, false},
		{"refused without a reason", 200, `{"status":false}`, true, false},
		{"too many requests", 429, `slow down`, true, true},
		{"server error", 502, `<html>bad gateway</html>`, true, true},
		{"unauthorized", 401, `{"status":false,"reason":"invalid token"}`, true, false},
		{"unreadable success", 200, `<html>ok</html>`, true, false}, // it may have been sent: never twice
		{"unreadable refusal", 400, `<html>bad request</html>`, true, false},
		{"request timeout", 408, `<html>timeout</html>`, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got url.Values
			var auth string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got, _ = url.ParseQuery(string(b))
				auth = r.Header.Get("Authorization")
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, c.body)
			}))
			defer srv.Close()
			err := NewWhatsApp(srv.URL, "tok-123", 5*time.Second).Send(context.Background(), "6281234567890", "Tagihan INV-1")
			if got.Get("target") != "6281234567890" || got.Get("message") != "Tagihan INV-1" || auth != "tok-123" {
				t.Fatalf("request: form %v, Authorization %q", got, auth)
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if err == nil {
				return
			}
			var ge *GatewayError
			if !errors.As(err, &ge) {
				t.Fatalf("err %T is not a *GatewayError", err)
			}
			if transient(err) != c.transient {
				t.Errorf("%v: transient = %v, want %v", err, transient(err), c.transient)
			}
		})
	}
}

// A gateway that does not answer is transient: the item is retried.
func TestWhatsAppNoAnswerIsTransient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	addr := srv.URL
	srv.Close() // nothing listens there now
	err := NewWhatsApp(addr, "tok", time.Second).Send(context.Background(), "62812", "x")
	if err == nil || !transient(err) {
		t.Fatalf("err = %v, want a transient GatewayError", err)
	}
}
