package harness

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+)`)

// PGBench measures the reference every load tool divides by: pgbench's
// single-row insert TPS with 16 clients for d, in a scratch database on
// server (a postgres:// URL), dropped afterwards. The benchmarks print
// their rates beside it, since a ratio travels between machines and a
// rate does not (cmd/loadgen, cmd/wabench, cmd/subbench).
func PGBench(server string, d time.Duration) (float64, error) {
	ctx := context.Background()
	u, err := url.Parse(server)
	if err != nil {
		return 0, err
	}
	name := fmt.Sprintf("lunas_pgbench_%d", time.Now().UnixNano())
	at := func(db string) string {
		v := *u
		v.Path = "/" + db
		return v.String()
	}
	admin, err := pgx.Connect(ctx, at("postgres"))
	if err != nil {
		return 0, err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return 0, err
	}
	defer func() {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}()
	db, err := pgx.Connect(ctx, at(name))
	if err != nil {
		return 0, err
	}
	_, err = db.Exec(ctx, `CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL, at timestamptz NOT NULL DEFAULT now())`)
	db.Close(ctx)
	if err != nil {
		return 0, err
	}
	script := filepath.Join(os.TempDir(), name+".sql")
	if err := os.WriteFile(script, []byte("INSERT INTO t (v) VALUES ('x');\n"), 0o644); err != nil {
		return 0, err
	}
	defer os.Remove(script)
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	out, err := exec.Command("pgbench", "-n", "-c", "16", "-j", "2", "-T", strconv.Itoa(int(d.Seconds())), "-f", script,
		"-h", u.Hostname(), "-p", port, "-U", u.User.Username(), name).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	m := tpsRe.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps in: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
