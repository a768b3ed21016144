// Package webhooktest is an app's webhook receiver for tests: an HTTP
// server on a loopback port in 23000–23999 that records every delivery,
// verifies its Standard Webhooks signature with the specification's own
// Go library, and answers what the test says.
package webhooktest

import (
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Delivery is one request the receiver got.
type Delivery struct {
	ID, Timestamp, Signature string
	Body                     []byte
	At                       time.Time
	// Verified is the library's verdict on the signature (nil: valid).
	Verified error
	// Answered is the status code the receiver answered.
	Answered int
}

// Receiver records deliveries.
type Receiver struct {
	URL string
	// Respond decides the answer to the n-th delivery (0-based) of an id;
	// nil answers 200. It may block (a slow endpoint).
	Respond func(n int, d Delivery) int
	mu      sync.Mutex
	secret  string
	got     []Delivery
	seen    map[string]int
	srv     *http.Server
}

// Listen listens on a free loopback port in 23000–23999 that no other
// test process holds: a port is reserved with a lock file for the test's
// life, so a port handed out as dead (DeadURL) is never another test's
// receiver meanwhile — tests of several packages run at once.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	for i := 0; i < 3000; i++ {
		port := 23000 + mrand.IntN(1000)
		if !reserve(t, port) {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return ln
		}
	}
	t.Fatal("no free port in 23000–23999")
	return nil
}

// reserve takes port's lock file until the test ends; a lock whose
// process is gone is taken over.
func reserve(t testing.TB, port int) bool {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("lunas-webhooktest-port-%d.lock", port))
	for try := 0; try < 2; try++ {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprint(f, os.Getpid())
			f.Close()
			t.Cleanup(func() { os.Remove(path) })
			return true
		}
		b, _ := os.ReadFile(path)
		pid, _ := strconv.Atoi(string(b))
		if pid <= 0 || syscall.Kill(pid, 0) == nil {
			return false // held by a live process (or being written)
		}
		os.Remove(path)
	}
	return false
}

// DeadURL is a URL on a reserved port where nothing listens (connection refused).
func DeadURL(t testing.TB) string {
	ln := Listen(t)
	u := "http://" + ln.Addr().String() + "/dead"
	ln.Close()
	return u
}

// Start starts a receiver; it stops when the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{seen: map[string]int{}}
	ln := Listen(t)
	r.URL = "http://" + ln.Addr().String() + "/hooks/lunas"
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { _ = r.srv.Close() })
	return r
}

// SetSecret gives the receiver the endpoint's secret to verify with.
func (r *Receiver) SetSecret(s string) { r.mu.Lock(); r.secret = s; r.mu.Unlock() }

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	d := Delivery{ID: req.Header.Get("webhook-id"), Timestamp: req.Header.Get("webhook-timestamp"),
		Signature: req.Header.Get("webhook-signature"), Body: body, At: time.Now()}
	r.mu.Lock()
	secret := r.secret
	n := r.seen[d.ID]
	r.seen[d.ID]++
	r.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	d.Verified = err
	d.Answered = 200
	if r.Respond != nil {
		d.Answered = r.Respond(n, d)
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
	w.WriteHeader(d.Answered)
	fmt.Fprintf(w, "answered %d", d.Answered)
}

// Deliveries returns what was received so far (answered ones).
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}
