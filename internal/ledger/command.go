package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// ErrUsage means the command line was wrong; the usage or the flag error
// was already written to stderr.
var ErrUsage = errors.New("usage")

const commandUsage = `castnet ledger — the embedded ledger: sender deposits and reserves, publisher balances, tickets

Usage:
  castnet ledger [-ledger PATH] fund -deposit|-reserve|-publisher ADDRESS AMOUNT
                      add money to a sender's deposit or reserve, or to a publisher's balance
  castnet ledger [-ledger PATH] balance [ADDRESS]
                      one account's balances, or the ledger's totals and whether they balance
  castnet ledger [-ledger PATH] history [-n 20] [-json] [ADDRESS]
                      the latest movements of money, newest first (every account without ADDRESS)

AMOUNT is wei ("123" or "123wei") or a decimal number with a unit: 1eth, 0.5eth, 20gwei.
ADDRESS is 0x and 40 hex digits. The ledger defaults to ` + DefaultPath + `.
`

// Command runs "castnet ledger" with args (the words after "ledger").
// Usage mistakes return ErrUsage after explaining them on stderr; -h
// prints the usage on stdout and returns nil.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	path := DefaultPath
	top := newFlags("castnet ledger", stderr, &path)
	if err := top.Parse(args); err != nil {
		return flagErr(top, err, stdout)
	}
	if top.NArg() == 0 {
		fmt.Fprint(stderr, commandUsage)
		return ErrUsage
	}
	cmd, rest := top.Arg(0), top.Args()[1:]
	switch cmd {
	case "fund":
		return cmdFund(ctx, rest, path, stdout, stderr)
	case "balance":
		return cmdBalance(ctx, rest, path, stdout, stderr)
	case "history":
		return cmdHistory(ctx, rest, path, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, commandUsage)
		return nil
	}
	fmt.Fprintf(stderr, "castnet ledger: unknown command %q\n\n%s", cmd, commandUsage)
	return ErrUsage
}

// newFlags is a flag set with the -ledger flag, which every subcommand
// also accepts.
func newFlags(name string, stderr io.Writer, path *string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // flagErr explains
	fs.StringVar(path, "ledger", *path, "the ledger file (SQLite)")
	return fs
}

// flagErr turns a flag parsing error into the command's result: -h prints
// the usage and the flag set's flags on stdout and is not an error; for
// other mistakes the flag package already named the problem on stderr.
func flagErr(fs *flag.FlagSet, err error, stdout io.Writer) error {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "%s\nFlags of %s:\n", commandUsage, fs.Name())
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	}
	fmt.Fprintf(fs.Output(), "run \"%s -h\" for usage\n", fs.Name())
	return ErrUsage
}

// cmdFund is "castnet ledger fund".
func cmdFund(ctx context.Context, args []string, path string, stdout, stderr io.Writer) error {
	fs := newFlags("castnet ledger fund", stderr, &path)
	deposit := fs.Bool("deposit", false, "fund ADDRESS's deposit (pays the tickets it sends)")
	reserve := fs.Bool("reserve", false, "fund ADDRESS's reserve (pays tickets once the deposit is spent)")
	publisher := fs.Bool("publisher", false, "fund ADDRESS's publisher balance (its streams are billed from it)")
	if err := fs.Parse(args); err != nil {
		return flagErr(fs, err, stdout)
	}
	kinds := 0
	for _, b := range []bool{*deposit, *reserve, *publisher} {
		if b {
			kinds++
		}
	}
	if kinds != 1 || fs.NArg() != 2 {
		fmt.Fprint(stderr, "usage: castnet ledger fund -deposit|-reserve|-publisher ADDRESS AMOUNT\n")
		if kinds != 1 {
			return fmt.Errorf("fund: give exactly one of -deposit, -reserve and -publisher: %w", ErrUsage)
		}
		return fmt.Errorf("fund: want ADDRESS AMOUNT, got %d arguments: %w", fs.NArg(), ErrUsage)
	}
	addr, err := ParseAddress(fs.Arg(0))
	if err != nil {
		return err
	}
	amount, err := ParseAmount(fs.Arg(1))
	if err != nil {
		return err
	}
	if amount.Sign() == 0 {
		return fmt.Errorf("amount: must be more than 0 wei, got %q", fs.Arg(1))
	}
	l, err := Open(path, Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	what := "deposit"
	switch {
	case *deposit:
		err = l.FundDeposit(ctx, addr, amount)
	case *reserve:
		what = "reserve"
		err = l.FundReserve(ctx, addr, amount)
	default:
		what = "publisher balance"
		err = l.FundPublisher(ctx, addr, amount)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "funded the %s of %s with %s\n", what, addr, wei(amount))
	a, err := l.Account(ctx, addr)
	if err != nil {
		return err
	}
	printAccount(stdout, addr, a)
	return l.Close()
}

// cmdBalance is "castnet ledger balance".
func cmdBalance(ctx context.Context, args []string, path string, stdout, stderr io.Writer) error {
	fs := newFlags("castnet ledger balance", stderr, &path)
	if err := fs.Parse(args); err != nil {
		return flagErr(fs, err, stdout)
	}
	if fs.NArg() > 1 {
		fmt.Fprint(stderr, "usage: castnet ledger balance [ADDRESS]\n")
		return fmt.Errorf("balance: want at most one ADDRESS, got %d arguments: %w", fs.NArg(), ErrUsage)
	}
	var addr common.Address
	if fs.NArg() == 1 {
		var err error
		if addr, err = ParseAddress(fs.Arg(0)); err != nil {
			return err
		}
	}
	l, err := openExisting(path)
	if err != nil {
		return err
	}
	defer l.Close()
	if fs.NArg() == 1 {
		a, err := l.Account(ctx, addr)
		if err != nil {
			return err
		}
		printAccount(stdout, addr, a)
		return l.Close()
	}
	t, err := l.Totals(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ledger\t%s\n", l.Path())
	fmt.Fprintf(tw, "id\t%s\n", l.ID())
	fmt.Fprintf(tw, "accounts\t%d\n", t.Accounts)
	fmt.Fprintf(tw, "tickets redeemed\t%d\n", t.Tickets)
	fmt.Fprintf(tw, "bills\t%d\n", t.Bills)
	fmt.Fprintf(tw, "funded deposits\t%s\n", wei(t.FundedDeposit))
	fmt.Fprintf(tw, "funded reserves\t%s\n", wei(t.FundedReserve))
	fmt.Fprintf(tw, "funded publishers\t%s\n", wei(t.FundedPublisher))
	fmt.Fprintf(tw, "funded in all\t%s\n", wei(t.Funded()))
	fmt.Fprintf(tw, "deposits\t%s\n", wei(t.Deposits))
	fmt.Fprintf(tw, "reserves\t%s\n", wei(t.Reserves))
	fmt.Fprintf(tw, "earnings\t%s\n", wei(t.Earnings))
	fmt.Fprintf(tw, "publisher balances\t%s\n", wei(t.Publisher))
	fmt.Fprintf(tw, "billed\t%s\n", wei(t.Billed))
	fmt.Fprintf(tw, "held in all\t%s\n", wei(t.Held()))
	cerr := t.Check()
	if cerr == nil {
		fmt.Fprintf(tw, "conserved\tyes\n")
	} else {
		fmt.Fprintf(tw, "conserved\tNO\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	return l.Close()
}

// cmdHistory is "castnet ledger history".
func cmdHistory(ctx context.Context, args []string, path string, stdout, stderr io.Writer) error {
	fs := newFlags("castnet ledger history", stderr, &path)
	n := fs.Int("n", 20, "how many entries to show (0: all)")
	asJSON := fs.Bool("json", false, "write JSON lines instead of a table")
	if err := fs.Parse(args); err != nil {
		return flagErr(fs, err, stdout)
	}
	if fs.NArg() > 1 {
		fmt.Fprint(stderr, "usage: castnet ledger history [-n 20] [-json] [ADDRESS]\n")
		return fmt.Errorf("history: want at most one ADDRESS, got %d arguments: %w", fs.NArg(), ErrUsage)
	}
	if *n < 0 {
		return fmt.Errorf("history: -n must not be negative, got %d", *n)
	}
	var addr common.Address
	if fs.NArg() == 1 {
		var err error
		if addr, err = ParseAddress(fs.Arg(0)); err != nil {
			return err
		}
	}
	l, err := openExisting(path)
	if err != nil {
		return err
	}
	defer l.Close()
	entries, err := l.History(ctx, addr, *n)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(jsonEntry(e)); err != nil {
				return err
			}
		}
		return l.Close()
	}
	if len(entries) == 0 {
		fmt.Fprintln(stdout, "no history")
		return l.Close()
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tACCOUNT\tCOUNTERPARTY\tAMOUNT\tREF")
	for _, e := range entries {
		cp := "-"
		if e.Counterparty != (common.Address{}) {
			cp = e.Counterparty.Hex()
		}
		ref := e.Ref
		if ref == "" {
			ref = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.DateTime), e.Kind, e.Account.Hex(), cp, FormatAmount(e.Amount), ref)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return l.Close()
}

// historyJSON is one line of "history -json".
type historyJSON struct {
	ID           int64     `json:"id"`
	Time         time.Time `json:"time"`
	Kind         string    `json:"kind"`
	Account      string    `json:"account"`
	Counterparty string    `json:"counterparty,omitempty"`
	// AmountWei is decimal text: wei amounts overflow JSON numbers.
	AmountWei string `json:"amount_wei"`
	Ref       string `json:"ref,omitempty"`
}

func jsonEntry(e Entry) historyJSON {
	j := historyJSON{ID: e.ID, Time: e.Time.UTC(), Kind: e.Kind, Account: e.Account.Hex(), AmountWei: e.Amount.String(), Ref: e.Ref}
	if e.Counterparty != (common.Address{}) {
		j.Counterparty = e.Counterparty.Hex()
	}
	return j
}

// openExisting opens a ledger that must exist already: reading commands
// should not create empty ledgers where a path was mistyped.
func openExisting(path string) (*Ledger, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no ledger at %s (fund an account to create it, or name one with -ledger)", path)
	}
	return Open(path, Options{})
}

// printAccount writes an account's balances as a small table.
func printAccount(w io.Writer, addr common.Address, a Account) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "account\t%s\n", addr)
	fmt.Fprintf(tw, "deposit\t%s\n", wei(a.Deposit))
	fmt.Fprintf(tw, "reserve\t%s\n", wei(a.Reserve))
	fmt.Fprintf(tw, "publisher balance\t%s\n", wei(a.Publisher))
	fmt.Fprintf(tw, "earnings\t%s\n", wei(a.Earnings))
	tw.Flush()
}

// wei writes an amount as exact wei and, when it helps, in a larger unit.
func wei(v *big.Int) string {
	f := FormatAmount(v)
	if f == v.String()+"wei" {
		return f
	}
	return fmt.Sprintf("%s wei (%s)", v, f)
}
