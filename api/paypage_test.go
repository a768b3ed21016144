package api_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/api"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/paylink"
)

// The pay page's guard, before any service is asked: an unsigned or altered
// token is 404 (HTML for a browser, a problem otherwise), every answer
// carries the page's headers, and a client past the per-address limit is
// refused with 429 and Retry-After.
func TestPayPageGuard(t *testing.T) {
	t.Parallel()
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	links := paylink.New("k", "http://lunas.test")
	srv := api.New(api.Options{Location: jkt, Logger: lunastest.Logger(), PayLinks: links})
	get := func(path, accept, addr string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = addr
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	tok := links.Token("ord_1")
	bad := tok[:len(tok)-1] + "x"
	w := get("/pay/"+bad, "text/html", "10.0.0.1:1")
	if w.Code != 404 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(w.Body.String(), "not found") {
		t.Errorf("tampered page: %d %s %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q", k, got)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	w = get("/pay/"+bad+"/status", "", "10.0.0.2:1")
	if w.Code != 404 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("tampered status: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	// One address, many tokens: cut at the per-address limit.
	codes := map[int]int{}
	for i := 0; i < 130; i++ {
		codes[get("/pay/ord_"+strings.Repeat("x", i%7)+".sig/status", "", "10.0.0.3:1").Code]++
	}
	if codes[404] != 120 || codes[429] != 10 {
		t.Errorf("answers to one address: %v, want 120 × 404 then 429", codes)
	}
	w = get("/pay/ord_y.sig/status", "", "10.0.0.3:2")
	if w.Code != 429 || w.Header().Get("Retry-After") != "60" {
		t.Errorf("past the limit: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// Another address is not held back by the first.
	if w := get("/pay/ord_y.sig/status", "", "10.0.0.4:1"); w.Code != 404 {
		t.Errorf("another address: %d", w.Code)
	}
	// One token, many addresses: cut at the per-token limit.
	codes = map[int]int{}
	for i := 0; i < 125; i++ {
		codes[get("/pay/"+bad+"/status", "", "10.1.0."+strconv.Itoa(i)+":1").Code]++
	}
	if codes[404] != 118 || codes[429] != 7 { // the two requests above with this token count too
		t.Errorf("answers to one token: %v", codes)
	}
}
