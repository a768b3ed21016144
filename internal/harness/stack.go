package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lunas-id/lunas/internal/mailtest"
	"github.com/lunas-id/lunas/internal/midtranstest"
	"github.com/lunas-id/lunas/internal/ovotest"
	"github.com/lunas-id/lunas/store"
)

// Tokens and keys the stack configures lunas with.
const (
	AppToken     = "load-app-token"
	FinanceToken = "load-finance-token"
	ServerKey    = "SB-Mid-server-HARNESS_KEY"
	XenditKey    = "xnd_development_HARNESS"
	OVOToken     = "harness-ovo-token"
)

// Config says what to run.
type Config struct {
	Bin         string // path to the lunas binary
	DatabaseURL string // the database lunas uses (created by `lunas migrate`)
	RedisURL    string
	Dir         string // logs go here
	Extra       map[string]string
	// HTTPAddr is where serve listens (empty: a free port); tests keep to
	// their own port range.
	HTTPAddr string
}

// Stack is lunas processes plus the fakes they talk to.
type Stack struct {
	cfg      Config
	Base     string
	Pool     *store.DB
	Midtrans *midtranstest.Server
	Xendit   *ovotest.Server
	Sink     *mailtest.Sink
	Client   *http.Client
	env      []string
	servers  []*http.Server
	mu       sync.Mutex
	procs    map[string]*Proc
	// Refused counts the 503 answers Call has seen (and retried).
	Refused atomic.Int64
}

func serve(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}

// New starts the fakes, migrates the database and opens a pool on it; no
// lunas process runs yet (see Start).
func New(ctx context.Context, cfg Config) (*Stack, error) {
	s := &Stack{cfg: cfg, procs: map[string]*Proc{},
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}}}
	addr := cfg.HTTPAddr
	if addr == "" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		addr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	s.Base = "http://" + addr
	s.Midtrans = midtranstest.New(ServerKey)
	s.Midtrans.NotifyURL = s.Base + "/webhooks/midtrans"
	s.Midtrans.Client = s.Client
	mtSrv, mtURL, err := serve(s.Midtrans)
	if err != nil {
		return nil, err
	}
	s.Xendit = ovotest.New(XenditKey, OVOToken)
	s.Xendit.CallbackURL = s.Base + "/webhooks/ovo"
	s.Xendit.Client = s.Client
	xdSrv, xdURL, err := serve(s.Xendit)
	if err != nil {
		return nil, err
	}
	s.servers = append(s.servers, mtSrv, xdSrv)
	if s.Sink, err = mailtest.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	env := map[string]string{
		"PATH": os.Getenv("PATH"), "LUNAS_ENV": "dev", "LUNAS_HTTP_ADDR": addr, "LUNAS_DATABASE_URL": cfg.DatabaseURL,
		"LUNAS_REDIS_URL": cfg.RedisURL, "LUNAS_SMTP_URL": "smtp://" + s.Sink.Addr(), "LUNAS_PUBLIC_URL": s.Base,
		"LUNAS_API_TOKENS": "app:" + AppToken + ",finance:" + FinanceToken, "LUNAS_SWEEP_INTERVAL": "1s",
		"MIDTRANS_SERVER_KEY": ServerKey, "MIDTRANS_BASE_URL": mtURL, "XENDIT_SECRET_KEY": XenditKey, "XENDIT_BASE_URL": xdURL,
		"OVO_CALLBACK_TOKEN": OVOToken, "LUNAS_AUTO_MIGRATE": "false", "LUNAS_LOG_LEVEL": "WARN",
	}
	for k, v := range cfg.Extra {
		env[k] = v
	}
	for k, v := range env {
		s.env = append(s.env, k+"="+v)
	}
	mig := exec.CommandContext(ctx, cfg.Bin, "migrate")
	mig.Env = s.env
	if out, err := mig.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("harness: lunas migrate: %v\n%s", err, out)
	}
	if s.Pool, err = store.Open(ctx, cfg.DatabaseURL, 10); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs `lunas cmd` as process name (e.g. "serve", "work-1").
func (s *Stack) Start(name, cmd string) error {
	p, err := StartProc(context.Background(), name, s.cfg.Bin, []string{cmd}, s.procEnv(name), filepath.Join(s.cfg.Dir, name+".log"))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.procs[name] = p
	s.mu.Unlock()
	return nil
}

// procEnv is the stack's environment for process name. Each process logs
// in to the SMTP sink as its own name, so every accepted message says which
// process sent it: the fault suite tells a mail resent because its sender
// was SIGKILLed between the server's 250 and the record from a mail sent
// twice for any other reason.
func (s *Stack) procEnv(name string) []string {
	return append(append([]string{}, s.env...), "LUNAS_SMTP_URL=smtp://"+url.UserPassword(name, "x").String()+"@"+s.Sink.Addr())
}

// Run runs a lunas command to completion (`lunas audit`, say) with the
// stack's environment and returns its output and error (a non-zero exit).
func (s *Stack) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.cfg.Bin, args...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// StartAt runs `lunas cmd` as process name listening on its own address
// (a second serve process beside the first), with extra environment on
// top of the stack's; it returns the process's base URL.
func (s *Stack) StartAt(name, cmd string, extra map[string]string) (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := append(s.procEnv(name), "LUNAS_HTTP_ADDR="+addr) // the last value of a name wins
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	p, err := StartProc(context.Background(), name, s.cfg.Bin, []string{cmd}, env, filepath.Join(s.cfg.Dir, name+".log"))
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.procs[name] = p
	s.mu.Unlock()
	return "http://" + addr, nil
}

// Proc returns a running process by name.
func (s *Stack) Proc(name string) *Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[name]
}

// Kill sends SIGKILL to a process.
func (s *Stack) Kill(name string) {
	if p := s.Proc(name); p != nil {
		p.Kill()
		s.mu.Lock()
		delete(s.procs, name)
		s.mu.Unlock()
	}
}

// WaitHealthy waits for /healthz.
func (s *Stack) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		res, err := s.Client.Get(s.Base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("harness: lunas not healthy within %s", timeout)
}

// Close stops every process gracefully, then the fakes.
func (s *Stack) Close() {
	s.mu.Lock()
	procs := s.procs
	s.procs = map[string]*Proc{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func(p *Proc) { defer wg.Done(); p.Stop() }(p)
	}
	wg.Wait()
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	s.Sink.Stop()
	if s.Pool != nil {
		s.Pool.Close()
	}
}

// Call does one API request; out, when not nil, receives the JSON answer.
// A 503 is retried after its Retry-After, as a real client would, for up
// to a minute: a slow machine's set-up should not fail on a moment the
// database needed, and every 503 seen is counted (Refused), so a load run
// still shows them. A POST carries one Idempotency-Key over its retries,
// so a retried create answers its first result; a retried confirm that
// had committed answers 409 (the caller decides).
func (s *Stack) Call(ctx context.Context, method, path, token string, body, out any) (int, error) {
	var raw []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		raw = b
	}
	key := ""
	if method == http.MethodPost {
		key = store.NewID("idem")
	}
	deadline := time.Now().Add(time.Minute)
	for {
		code, answer, wait, err := s.call(ctx, method, path, token, raw, key)
		if err == nil && code == http.StatusServiceUnavailable {
			s.Refused.Add(1)
			if time.Now().Add(wait).Before(deadline) {
				select {
				case <-ctx.Done():
					return code, ctx.Err()
				case <-time.After(wait):
				}
				continue
			}
		}
		if err != nil {
			return code, err
		}
		if out != nil && code < 300 {
			if err := json.Unmarshal(answer, out); err != nil {
				return code, fmt.Errorf("%s %s: %w: %s", method, path, err, answer)
			}
		}
		if code >= 300 {
			return code, fmt.Errorf("%s %s: %d %s", method, path, code, answer)
		}
		return code, nil
	}
}

// call does one try of Call: the status, the body and the Retry-After.
func (s *Stack) call(ctx context.Context, method, path, token string, body []byte, key string) (int, []byte, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Base+path, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := s.Client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	wait := time.Second
	if n, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && n > 0 {
		wait = time.Duration(n) * time.Second
	}
	return res.StatusCode, raw, wait, nil
}

// Order is what the harness needs of a payable order.
type Order struct {
	ID        string
	AttemptID string
	Email     string
	Total     int64
}

// PayableOrder creates an account-bound order for a unique requester,
// confirms it and opens a BCA VA attempt at the fake Midtrans.
func (s *Stack) PayableOrder(ctx context.Context, account string, i int) (Order, error) {
	o, err := s.DraftOrder(ctx, account, i)
	if err != nil {
		return o, err
	}
	if err := s.Confirm(ctx, o.ID); err != nil {
		return o, err
	}
	return s.OpenVA(ctx, o)
}

// DraftOrder creates a draft order of Rp1,000,000 of WhatsApp balance for
// account, requested by req-i@load.example.
func (s *Stack) DraftOrder(ctx context.Context, account string, i int) (Order, error) {
	o := Order{Email: fmt.Sprintf("req-%d@load.example", i)}
	var created struct {
		ID    string `json:"id"`
		Total int64  `json:"total"`
	}
	body := map[string]any{"account_id": account, "requester": map[string]string{"name": fmt.Sprintf("Requester %d", i), "email": o.Email},
		"items": []map[string]any{{"product": "wa_balance", "quantity": 1_000_000}}}
	if _, err := s.Call(ctx, "POST", "/v1/orders", AppToken, body, &created); err != nil {
		return o, err
	}
	o.ID, o.Total = created.ID, created.Total
	return o, nil
}

// Confirm confirms order id.
func (s *Stack) Confirm(ctx context.Context, id string) error {
	refused := s.Refused.Load()
	code, err := s.Call(ctx, "POST", "/v1/orders/"+id+"/confirm", AppToken, nil, nil)
	if err == nil || code != http.StatusConflict || s.Refused.Load() == refused {
		return err
	}
	// A confirm retried after a 503 that had committed after all is
	// refused 409: the order is confirmed, which is what was asked.
	var cur struct {
		Status string `json:"status"`
	}
	if _, gerr := s.Call(ctx, "GET", "/v1/orders/"+id, AppToken, nil, &cur); gerr != nil || cur.Status != "awaiting_payment" {
		return err
	}
	return nil
}

// OpenVA opens a BCA VA attempt on the confirmed order o.
func (s *Stack) OpenVA(ctx context.Context, o Order) (Order, error) {
	var a struct {
		ID string `json:"id"`
	}
	if _, err := s.Call(ctx, "POST", "/v1/orders/"+o.ID+"/payments", AppToken, map[string]string{"method": "bca_va"}, &a); err != nil {
		return o, err
	}
	o.AttemptID = a.ID
	return o, nil
}
