package pm

import (
	"context"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// TicketValidityRounds is how many rounds a ticket stays redeemable: it
// is valid while creationRound + TicketValidityRounds > the current round
// (TicketBroker's ticketValidityPeriod).
const TicketValidityRounds = 2

// Redemption errors a Broker returns; each names the rule that failed.
var (
	ErrTicketUsed        = errors.New("ticket already redeemed")
	ErrTicketExpired     = errors.New("ticket expired: its creation round is too old")
	ErrNotWinning        = errors.New("ticket does not win")
	ErrBadRound          = errors.New("ticket names a round or round block hash the broker does not know")
	ErrInsufficientFunds = errors.New("sender has no funds to pay the ticket")
	ErrWrongSigner       = errors.New("ticket is not signed by its sender")
)

// SenderInfo is what a sender has locked to pay tickets: the deposit pays
// winning tickets first, then the reserve.
type SenderInfo struct {
	Deposit *big.Int
	Reserve *big.Int
}

// Round is a broker round: tickets name the round they were made in and
// its block hash (auxData), and expire TicketValidityRounds later.
type Round struct {
	Number    int64
	BlockHash common.Hash
}

// Broker settles tickets: Livepeer's TicketBroker contract on chain, or
// castnet's embedded ledger standing in for it. A broker enforces
// TicketBroker's rules on Redeem: the sender's signature, the revealed
// recipientRand matching the commitment, the win rule, one use per ticket
// hash, the validity period, and funds.
type Broker interface {
	// CurrentBlock is the broker's clock; ticket parameters expire at a
	// block (for the embedded ledger a block is a unix second).
	CurrentBlock(ctx context.Context) (*big.Int, error)
	// CurrentRound is the round new tickets must name.
	CurrentRound(ctx context.Context) (Round, error)
	// Sender returns a sender's deposit and reserve (zero when unknown).
	Sender(ctx context.Context, sender common.Address) (SenderInfo, error)
	// IsUsed reports whether a ticket hash was already redeemed.
	IsUsed(ctx context.Context, ticketHash common.Hash) (bool, error)
	// Redeem pays a winning ticket to its recipient and returns the
	// amount paid (the face value, or less when the sender's funds run
	// short). It is atomic: a ticket is paid once or not at all.
	Redeem(ctx context.Context, t Ticket, sig []byte, recipientRand *big.Int) (*big.Int, error)
}
