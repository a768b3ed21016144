package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/config"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/store"
)

const usersUsage = `usage: lunas users <add|list|disable|reset> [flags]

  add     --email E --name N --role viewer|reviewer|approver|admin   prints the one-time welcome link
  list                                                             everyone, with role and status
  disable --email E                                                ends their sessions at once
  reset   --email E                                                prints a new one-time link
`

// runUsers is `lunas users …`: the way the first admin is made and how a
// person is added, removed or reset from the server (docs/people.md). It
// reads the same environment as serve. The changes are audited with the
// actor "cli:" and the operating-system user, since no person is signed in.
func runUsers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return errors.New("expected a users command")
	}
	fs := flag.NewFlagSet("users "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the person's e-mail address")
	name := fs.String("name", "", "the person's name (add)")
	role := fs.String("role", "", "viewer, reviewer, approver or admin (add)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	var clk clock.Clock = clock.Wall{}
	if cfg.Env == config.EnvTest {
		tc, err := clock.NewTest(ctx, pool.Pool)
		if err != nil {
			return err
		}
		clk = tc
	}
	users := people.NewUsers(pool, people.Options{Clock: clk})
	log := people.NewAuditLog(pool, clk)
	actor := "cli:" + strings.TrimSpace(getenv("USER"))
	if actor == "cli:" {
		actor = "cli:unknown"
	}
	link := func(tok string) string { return strings.TrimRight(cfg.PublicURL, "/") + "/console/welcome/" + tok }
	record := func(ctx context.Context, tx pgx.Tx, action string, before *people.User, after people.User) error {
		e := people.AuditEntry{Actor: actor, Action: action, Object: after.ID}
		if before != nil {
			e.Before, _ = json.Marshal(before)
		}
		e.After, _ = json.Marshal(after)
		return log.Record(ctx, tx, e)
	}
	byEmail := func() (people.User, error) {
		if *email == "" {
			return people.User{}, errors.New("--email is required")
		}
		return users.ByEmail(ctx, *email)
	}

	switch args[0] {
	case "add":
		r, err := people.ParseRole(*role)
		if err != nil {
			return err
		}
		var u people.User
		var tok string
		err = store.InTx(ctx, pool, func(tx pgx.Tx) error {
			if u, tok, err = users.Add(ctx, tx, *email, *name, r); err != nil {
				return err
			}
			return record(ctx, tx, "user.add", nil, u)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s, %s). One-time link, valid %s — give it to them by a channel you trust:\n%s\n",
			u.Email, u.Name, u.Role, people.LinkTTL, link(tok))
		return nil
	case "list":
		list, err := users.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tNAME\tROLE\tSTATUS\tTOTP\tID")
		for _, u := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", u.Email, u.Name, u.Role, u.Status, u.TOTP, u.ID)
		}
		return tw.Flush()
	case "disable":
		u, err := byEmail()
		if err != nil {
			return err
		}
		err = store.InTx(ctx, pool, func(tx pgx.Tx) error {
			after, err := users.Disable(ctx, tx, u.ID)
			if err != nil {
				return err
			}
			return record(ctx, tx, "user.disable", &u, after)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "disabled %s: their sessions have ended\n", u.Email)
		return nil
	case "reset":
		u, err := byEmail()
		if err != nil {
			return err
		}
		var tok string
		err = store.InTx(ctx, pool, func(tx pgx.Tx) error {
			var after people.User
			if after, tok, err = users.Reset(ctx, tx, u.ID); err != nil {
				return err
			}
			return record(ctx, tx, "user.reset", &u, after)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new one-time link for %s, valid %s (earlier links no longer work):\n%s\n", u.Email, people.LinkTTL, link(tok))
		return nil
	}
	fmt.Fprint(stderr, usersUsage)
	return fmt.Errorf("unknown users command %q", args[0])
}
