package paytest

import (
	"math"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/manual"
)

// Adjust moves money by hand as finance does, through package manual, so
// the adjustment has its audit row (the audit at cleanup checks it); no
// threshold applies here.
func (e *Env) Adjust(accountID, kind string, amount int64, reason string) account.Adjustment {
	e.T.Helper()
	m := manual.New(manual.Options{Pool: e.Pool, Clock: e.Clock, Accounts: e.Accounts, Threshold: math.MaxInt64})
	res, err := m.Adjust(e.Ctx, accountID, manual.Actor{Name: "token:00000000"},
		account.AdjustmentInput{Product: "wa_balance", Kind: kind, Amount: amount, Reason: reason})
	if err != nil {
		e.T.Fatal(err)
	}
	return *res.Adjustment
}
