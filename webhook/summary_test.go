package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// last_response keeps a short, sanitised summary of a receiver's answer,
// never the answer itself: outside production an endpoint may be any
// service on the network, and finance reads last_response.
func TestLastResponseIsAShortSummary(t *testing.T) {
	secrets := `{"Code":"Success","AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","Token":"` +
		strings.Repeat("x", 2000) + `"}`
	for _, tc := range []struct {
		name, contentType, body, want string
	}{
		{"ok", "text/plain; charset=utf-8", "ok\n", "ok"},
		{"json", "application/json", `{"received": true}`, `{"received": true}`},
		{"credentials", "text/plain", secrets, secrets[:maxSnippet] + "…"},
		{"control characters", "text/plain", "a\x00b\x1b[31m\r\n\tc", "a b [31m c"},
		{"html", "text/html", "<html><title>Redis admin</title>" + strings.Repeat("<p>row</p>", 500), "(text/html, 5032 bytes)"},
		{"binary", "application/octet-stream", "\x00\x01\x02", "(application/octet-stream, 3 bytes)"},
		{"empty", "text/plain", "", ""},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.contentType != "" {
				w.Header().Set("Content-Type", tc.contentType)
			}
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte(tc.body))
		}))
		s := NewSender(SenderOptions{})
		res := s.post(context.Background(), attempt{eventID: "evt_1", url: srv.URL, body: []byte(`{}`)}, "whsec_"+strings.Repeat("A", 32))
		srv.Close()
		if res.status != http.StatusTeapot || res.response != tc.want {
			t.Errorf("%s: %d %q, want %q (%s)", tc.name, res.status, res.response, tc.want, res.err)
		}
		if utf8.RuneCountInString(res.response) > maxSnippet+1 && !strings.HasPrefix(res.response, "(") {
			t.Errorf("%s: %d characters kept", tc.name, utf8.RuneCountInString(res.response))
		}
	}
}
