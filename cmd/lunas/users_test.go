package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/people"
)

var linkLine = regexp.MustCompile(`(https://billing\.example\.id/console/welcome/)([A-Za-z0-9_-]{43})\n`)

// `lunas users add|list|reset|disable` with serve's environment: the
// first admin is made from the command line, with a one-time link under
// LUNAS_PUBLIC_URL; each change has its audit row.
func TestUsersCommand(t *testing.T) {
	t.Parallel()
	pool, dsn := lunastest.Pool(t)
	env := map[string]string{"LUNAS_ENV": "test", "LUNAS_DATABASE_URL": dsn, "LUNAS_REDIS_URL": lunastest.RedisURL(t),
		"LUNAS_PUBLIC_URL": "https://billing.example.id", "LUNAS_AUTO_MIGRATE": "false", "USER": "ops"}
	users := func(args ...string) (string, error) {
		var out, errs strings.Builder
		err := run(context.Background(), append([]string{"users"}, args...), func(k string) string { return env[k] }, &out, &errs)
		if err != nil {
			return out.String() + errs.String(), err
		}
		return out.String(), nil
	}
	out, err := users("add", "--email", "Siti@Example.co.id", "--name", "Siti Rahma", "--role", "admin")
	m := linkLine.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	first := m[2]
	ppl := people.NewUsers(pool, people.Options{Clock: clock.Wall{}})
	w, err := ppl.Welcome(context.Background(), first)
	if err != nil || w.User.Email != "siti@example.co.id" || w.User.Role != people.RoleAdmin || !w.NeedsTOTP {
		t.Fatalf("the link's page: %+v %v", w, err)
	}
	if out, err := users("add", "--email", "siti@example.co.id", "--name", "Again", "--role", "viewer"); err == nil {
		t.Errorf("the same e-mail twice: %s", out)
	}
	if out, err := users("add", "--email", "x@example.co.id", "--name", "X", "--role", "boss"); err == nil || !strings.Contains(err.Error(), "role") {
		t.Errorf("an unknown role: %v %s", err, out)
	}
	out, err = users("list")
	if err != nil || !regexp.MustCompile(`siti@example\.co\.id\s+Siti Rahma\s+admin\s+invited`).MatchString(out) {
		t.Errorf("users list: %v\n%s", err, out)
	}
	out, err = users("reset", "--email", "siti@example.co.id")
	if m = linkLine.FindStringSubmatch(out); err != nil || m == nil || m[2] == first {
		t.Fatalf("users reset: %v\n%s", err, out)
	}
	if _, err := ppl.Welcome(context.Background(), first); err == nil {
		t.Error("the first link still works after a reset")
	}
	if out, err = users("disable", "--email", "siti@example.co.id"); err != nil {
		t.Fatalf("users disable: %v\n%s", err, out)
	}
	if _, err := ppl.Welcome(context.Background(), m[2]); err == nil {
		t.Error("a disabled person's link still works")
	}
	if out, _ = users("list"); !regexp.MustCompile(`siti@example\.co\.id\s+Siti Rahma\s+admin\s+disabled`).MatchString(out) {
		t.Errorf("after disable:\n%s", out)
	}
	var actions string
	if err := pool.QueryRow(context.Background(), `SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE actor = 'cli:ops'`).Scan(&actions); err != nil ||
		actions != "user.add,user.reset,user.disable" {
		t.Errorf("audit rows of the commands: %q %v", actions, err)
	}
	if err := run(context.Background(), []string{"users"}, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil {
		t.Error("users without a subcommand succeeds")
	}
}
