package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
)

// ErrRecipientRand means the recipientRand revealed to redeem a ticket
// does not hash to the ticket's recipientRandHash. Redeem's error wraps
// pm.ErrTicket too, so callers that only know the pm errors see a
// permanent refusal.
var ErrRecipientRand = errors.New("recipientRand does not match the ticket's recipientRandHash")

// Redeem pays a winning ticket to its recipient, applying TicketBroker's
// rules, and returns the amount paid. The checks that need no state (the
// ticket's fields, the sender's signature, the revealed recipientRand and
// the win rule) run first; the rest run in one write transaction that
// also pays and marks the ticket used, so a ticket is paid exactly once or
// not at all, whichever process redeems it:
//
//   - the ticket hash was not redeemed before (pm.ErrTicketUsed);
//   - it names a round no later than the current one with this ledger's
//     block hash for that round (pm.ErrBadRound), and that round is
//     recent: creationRound + pm.TicketValidityRounds > current round
//     (pm.ErrTicketExpired);
//   - the sender has funds: it pays min(faceValue, deposit + reserve),
//     from the deposit first and then the reserve, to the recipient's
//     earnings (pm.ErrInsufficientFunds when that is zero; the ticket is
//     then not marked used).
//
// Every error wraps the pm error for the rule that failed.
func (l *Ledger) Redeem(ctx context.Context, t pm.Ticket, sig []byte, recipientRand *big.Int) (*big.Int, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	if t.Recipient == (common.Address{}) {
		return nil, fmt.Errorf("%w: recipient is the zero address", pm.ErrTicket)
	}
	if t.FaceValue.Sign() == 0 {
		return nil, fmt.Errorf("%w: faceValue is zero, nothing to redeem", pm.ErrTicket)
	}
	if recipientRand == nil || recipientRand.Sign() < 0 || recipientRand.BitLen() > 256 {
		return nil, fmt.Errorf("%w (%w): recipientRand is missing, negative or wider than 256 bits", ErrRecipientRand, pm.ErrTicket)
	}
	signer, err := t.Signer(sig)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", pm.ErrWrongSigner, err)
	}
	if signer != t.Sender {
		return nil, fmt.Errorf("%w: signed by %s, sender is %s", pm.ErrWrongSigner, signer, t.Sender)
	}
	if got := pm.RandHash(recipientRand); got != t.RecipientRandHash {
		return nil, fmt.Errorf("%w (%w): keccak256(recipientRand) is %s, ticket commits to %s", ErrRecipientRand, pm.ErrTicket, got, t.RecipientRandHash)
	}
	if !pm.Wins(sig, recipientRand, t.WinProb) {
		return nil, fmt.Errorf("%w: ticket %s", pm.ErrNotWinning, t.Hash())
	}

	hash := t.Hash()
	ref := hash.Hex()
	now := l.clock()
	round := l.roundAt(now)
	var paid, fromDeposit, fromReserve *big.Int
	err = l.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.StmtContext(ctx, l.stmts.wIsUsed).QueryRowContext(ctx, ref).Scan(&one)
		if err == nil {
			return fmt.Errorf("%w: ticket %s", pm.ErrTicketUsed, hash)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ledger: ticket %s: %w", hash, err)
		}
		switch {
		case t.CreationRound > round:
			return fmt.Errorf("%w: creation round %d is after the current round %d", pm.ErrBadRound, t.CreationRound, round)
		case t.CreationRoundBlockHash != l.RoundBlockHash(t.CreationRound):
			return fmt.Errorf("%w: %s is not this ledger's block hash for round %d", pm.ErrBadRound, t.CreationRoundBlockHash, t.CreationRound)
		case t.CreationRound+pm.TicketValidityRounds <= round:
			return fmt.Errorf("%w: creation round %d, current round %d, valid for %d rounds", pm.ErrTicketExpired, t.CreationRound, round, pm.TicketValidityRounds)
		}

		sender, err := l.txAccount(ctx, tx, t.Sender)
		if err != nil {
			return err
		}
		paid = new(big.Int).Add(sender.Deposit, sender.Reserve)
		if paid.Cmp(t.FaceValue) > 0 {
			paid.Set(t.FaceValue)
		}
		if paid.Sign() == 0 {
			return fmt.Errorf("%w: sender %s has no deposit or reserve for ticket %s (face value %s wei)", pm.ErrInsufficientFunds, t.Sender, hash, t.FaceValue)
		}
		fromDeposit = new(big.Int).Set(paid)
		if fromDeposit.Cmp(sender.Deposit) > 0 {
			fromDeposit.Set(sender.Deposit)
		}
		fromReserve = new(big.Int).Sub(paid, fromDeposit)
		sender.Deposit.Sub(sender.Deposit, fromDeposit)
		sender.Reserve.Sub(sender.Reserve, fromReserve)
		if err := l.txPutAccount(ctx, tx, t.Sender, sender); err != nil {
			return err
		}
		// Read the recipient after writing the sender: they may be the
		// same account.
		recipient, err := l.txAccount(ctx, tx, t.Recipient)
		if err != nil {
			return err
		}
		recipient.Earnings.Add(recipient.Earnings, paid)
		if err := l.txPutAccount(ctx, tx, t.Recipient, recipient); err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, l.stmts.wTicket).ExecContext(ctx, ref, addrKey(t.Sender), addrKey(t.Recipient),
			t.FaceValue.String(), paid.String(), t.CreationRound, now.UnixNano()); err != nil {
			return fmt.Errorf("ledger: mark ticket %s used: %w", hash, err)
		}
		if err := l.txAddTotal(ctx, tx, totalRedeemed, paid); err != nil {
			return err
		}
		return l.txHistory(ctx, tx, now, KindRedeem, t.Recipient, t.Sender, paid, ref)
	})
	if err != nil {
		return nil, err
	}
	l.log.Debug("ledger redeemed ticket", "ticket", hash, "sender", t.Sender, "recipient", t.Recipient,
		"face_value", t.FaceValue, "paid", paid, "from_deposit", fromDeposit, "from_reserve", fromReserve)
	return paid, nil
}
