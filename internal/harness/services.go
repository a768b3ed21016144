// Package harness runs lunas as real processes (bin/lunas serve and work)
// beside private PostgreSQL and Redis servers, the fake gateways and an SMTP
// sink, for the load run (cmd/loadgen) and the fault suite (cmd/faults).
// Unlike lunastest it needs no *testing.T: it is driven by programs that
// break things on purpose and print what they measured.
package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FreePort returns a loopback port nothing listens on, outside the
// ephemeral range where outgoing connections could hold it.
func FreePort() (int, error) {
	for p := 20000 + int(time.Now().UnixNano()%5000); p < 32000; p++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("harness: no free port")
}

// FreePortIn returns a loopback port in [lo, hi] that nothing listens on,
// for tests that must keep to a range of ports of their own.
func FreePortIn(lo, hi int) (int, error) {
	span := hi - lo + 1
	start := int(time.Now().UnixNano() % int64(span))
	for i := 0; i < span; i++ {
		p := lo + (start+i)%span
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("harness: no free port in %d–%d", lo, hi)
}

func waitPort(addr string, up bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if c != nil {
			c.Close()
		}
		if (err == nil) == up {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("harness: %s did not come %s within %s", addr, map[bool]string{true: "up", false: "down"}[up], timeout)
}

// Postgres is a private PostgreSQL server in a scratch directory.
type Postgres struct {
	Port int
	dir  string
	bin  string
	as   []string // runuser prefix when running as root
}

func pgBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Sort(sort.Reverse(sort.StringSlice(matches)))
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("harness: PostgreSQL server binaries not found (apt-get install postgresql)")
}

// StartPostgres initialises and starts a private server on a free port.
func StartPostgres(dir string) (*Postgres, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return StartPostgresOn(dir, port)
}

// StartPostgresOn initialises and starts a private server on port.
func StartPostgresOn(dir string, port int) (*Postgres, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	p := &Postgres{Port: port, dir: filepath.Join(dir, "pg"), bin: bin}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("harness: running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		_ = os.Chmod(dir, 0o755)
		if err := os.Chown(p.dir, uid, -1); err != nil {
			return nil, err
		}
		p.as = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.run(filepath.Join(bin, "initdb"), "-D", p.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8"); err != nil {
		return nil, fmt.Errorf("harness: initdb: %v: %s", err, out)
	}
	return p, p.Start()
}

func (p *Postgres) run(args ...string) ([]byte, error) {
	all := append(append([]string{}, p.as...), args...)
	return exec.Command(all[0], all[1:]...).CombinedOutput()
}

// URL is the server's base URL for database name.
func (p *Postgres) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, name)
}

// Start starts (or restarts) the server.
func (p *Postgres) Start() error {
	out, err := p.run(filepath.Join(p.bin, "pg_ctl"), "-D", p.dir, "-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300", p.Port, p.dir), "start")
	if err != nil {
		return fmt.Errorf("harness: pg_ctl start: %v: %s", err, out)
	}
	return waitPort(fmt.Sprintf("127.0.0.1:%d", p.Port), true, 30*time.Second)
}

// Stop stops the server (fast shutdown: connections are cut).
func (p *Postgres) Stop() error {
	out, err := p.run(filepath.Join(p.bin, "pg_ctl"), "-D", p.dir, "-m", "fast", "-w", "stop")
	if err != nil {
		return fmt.Errorf("harness: pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Freeze stops every process of the server (SIGSTOP), the postmaster first
// so that it forks no new backend: connections are accepted by the kernel
// and then nothing answers, as when a host stalls.
func (p *Postgres) Freeze() error { return p.signalAll(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (p *Postgres) Thaw() error { return p.signalAll(syscall.SIGCONT) }

func (p *Postgres) signalAll(sig syscall.Signal) error {
	b, err := os.ReadFile(filepath.Join(p.dir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("harness: postmaster.pid: %w", err)
	}
	var pm int
	if _, err := fmt.Sscan(string(b), &pm); err != nil {
		return fmt.Errorf("harness: postmaster.pid: %w", err)
	}
	pids := []int{pm}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range procs {
		st, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so split after ')'.
		rest := string(st)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		var state string
		var ppid int
		if _, err := fmt.Sscan(rest, &state, &ppid); err == nil && ppid == pm {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			pids = append(pids, pid)
		}
	}
	if sig == syscall.SIGCONT {
		// Children first, the postmaster last: it forks nothing until then.
		for i, j := 0, len(pids)-1; i < j; i, j = i+1, j-1 {
			pids[i], pids[j] = pids[j], pids[i]
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && pid == pm {
			return fmt.Errorf("harness: signal postmaster %d: %w", pm, err)
		}
	}
	return nil
}

// Redis is a private redis-server (or redis-sentinel).
type Redis struct {
	Port int
	dir  string
	args []string // the command line, without the binary
	bin  string
	cmd  *exec.Cmd
}

// StartRedis starts a private redis-server with AOF on, as production runs it.
func StartRedis(dir string) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return StartRedisOn(dir, port)
}

// StartRedisOn starts a private redis-server on port, in its own directory
// under dir, with AOF on; extra arguments are added (e.g. "--replicaof",
// "127.0.0.1 6379").
func StartRedisOn(dir string, port int, extra ...string) (*Redis, error) {
	r := &Redis{Port: port, dir: filepath.Join(dir, "redis-"+strconv.Itoa(port)), bin: "redis-server"}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, err
	}
	r.args = append([]string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction",
		"--logfile", filepath.Join(r.dir, "redis.log")}, extra...)
	return r, r.Start()
}

// StartSentinel starts redis-sentinel on port, watching the master at
// masterAddr under name; quorum sentinels must agree that it is down, and
// down is 1 s without an answer (so a test's failover takes seconds).
func StartSentinel(dir string, port int, name, masterAddr string, quorum int) (*Redis, error) {
	r := &Redis{Port: port, dir: filepath.Join(dir, "sentinel-"+strconv.Itoa(port)), bin: "redis-sentinel"}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, err
	}
	host, mport, err := net.SplitHostPort(masterAddr)
	if err != nil {
		return nil, err
	}
	// Sentinel rewrites its configuration file as it learns the topology.
	conf := filepath.Join(r.dir, "sentinel.conf")
	text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s %s %s %d
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 10000
sentinel parallel-syncs %s 1
`, port, r.dir, filepath.Join(r.dir, "sentinel.log"), name, host, mport, quorum, name, name, name)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	r.args = []string{conf}
	return r, r.Start()
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.Port) }

// URL is the server's redis:// URL.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Start starts (or restarts) the server.
func (r *Redis) Start() error {
	r.cmd = exec.Command(r.bin, r.args...)
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("harness: %s: %w", r.bin, err)
	}
	return waitPort(fmt.Sprintf("127.0.0.1:%d", r.Port), true, 15*time.Second)
}

// Kill stops the server at once (SIGKILL): writes of the last second may be
// lost, as in a crash.
func (r *Redis) Kill() error {
	if r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	_ = r.cmd.Process.Kill()
	_, _ = r.cmd.Process.Wait()
	r.cmd = nil
	return waitPort(fmt.Sprintf("127.0.0.1:%d", r.Port), false, 10*time.Second)
}

// Stop stops the server (SIGTERM: AOF is flushed).
func (r *Redis) Stop() error {
	if r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_, _ = r.cmd.Process.Wait()
	r.cmd = nil
	return waitPort(fmt.Sprintf("127.0.0.1:%d", r.Port), false, 10*time.Second)
}

// Proc is one lunas process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartProc starts bin with args and env, logging to logPath.
func StartProc(ctx context.Context, name, bin string, args, env []string, logPath string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL and waits.
func (p *Proc) Kill() { _ = p.cmd.Process.Kill(); <-p.done }

// Stop sends SIGTERM and waits for the graceful drain.
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.Kill()
	}
}

// PeakRSS reads the process's peak resident set (VmHWM) in bytes.
func (p *Proc) PeakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range splitLines(string(b)) {
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
