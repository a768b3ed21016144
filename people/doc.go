// Package people provides finance's named users and what hangs on them:
// roles and the actions each may take (Role.Can), passwords (argon2id,
// with a policy), the welcome/reset link that sets a password and enrols
// TOTP with recovery codes, sign-in with throttling, sessions, four-eyes
// approvals of money moved by hand, and the append-only audit log
// (API.md "People, roles and approvals"; issue 26).
//
// Who calls it: the console (sign-in pages, /console/users, approvals,
// audit), the API (GET /v1/approvals, GET /v1/audit-log, requests for
// approval from the finance token) and the `lunas users` commands. It
// owns its tables (store/migrations/00090_people.sql) and imports no other
// domain package: money is moved on approval by the Executor the caller
// provides.
//
// Writes that belong to a caller's change (Users.Add, Disable, Reset;
// Approvals.Request, Decide; AuditLog.Record) take the caller's pgx.Tx, so
// the change, its audit row and its outbound event commit together. The
// self-service steps (SetPassword, SignIn, SignInTOTP, SignOut) run their
// own transaction and write their own audit row, the person being the
// actor.
//
// Times: business times (links valid 24 h, sessions, the throttle
// windows, audit rows) come from the injected clock.Clock, taken once per
// call. TOTP codes alone are checked against real time (Options.RealNow,
// time.Now by default): the authenticator on a phone runs on real time,
// never on the service's test clock.
package people
