package main

import (
	"context"
	"errors"
	"io"

	"github.com/castnet/castnet/internal/ledger"
)

// runLedger is `castnet ledger fund|balance|history`.
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := ledger.Command(ctx, args, stdout, stderr)
	if errors.Is(err, ledger.ErrUsage) {
		return errUsage
	}
	return err
}
