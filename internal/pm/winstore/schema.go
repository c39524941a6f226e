package winstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sqlitex"
)

// The file's PRAGMA application_id marks it a winner store, so neither
// another SQLite file (the ledger, named by mistake) nor a store of a
// newer castnet is taken for one; PRAGMA user_version is its schema.
const (
	applicationID = 0x636e7773 // "cnws"
	schemaVersion = 1
)

// schemaV1 holds one row per winner. Addresses are 0x-prefixed lowercase
// hex, hashes 0x-prefixed hex, numbers of up to 256 bits decimal text
// (SQLite integers are 64 bits), added_at unix nanoseconds.
const schemaV1 = `CREATE TABLE winners (
	hash                      TEXT PRIMARY KEY,
	recipient                 TEXT NOT NULL,
	sender                    TEXT NOT NULL,
	face_value                TEXT NOT NULL,
	win_prob                  TEXT NOT NULL,
	sender_nonce              INTEGER NOT NULL,
	recipient_rand_hash       TEXT NOT NULL,
	creation_round            INTEGER NOT NULL,
	creation_round_block_hash TEXT NOT NULL,
	sig                       BLOB NOT NULL,
	recipient_rand            TEXT NOT NULL,
	attempts                  INTEGER NOT NULL,
	added_at                  INTEGER NOT NULL
) WITHOUT ROWID`

// columns are the winners columns scan reads, in its order.
const columns = `hash, recipient, sender, face_value, win_prob, sender_nonce, recipient_rand_hash,
	creation_round, creation_round_block_hash, sig, recipient_rand, attempts`

// migrate creates the schema in one transaction when the file is new and
// refuses a file that is some other SQLite database, or a newer store.
func (s *Store) migrate(ctx context.Context) error {
	_, err := s.file.Migrate(ctx, s.db, sqlitex.Schema{
		Kind:          "castnet winner store",
		Hint:          "is it the ledger?",
		ApplicationID: applicationID,
		Version:       schemaVersion,
		Create:        []string{schemaV1},
	})
	return err
}

// insert stores w, or raises the attempts of the row already there.
func insert(ctx context.Context, tx *sql.Tx, w pm.Winner, now int64) error {
	t := w.Ticket
	if err := t.Check(); err != nil {
		return fmt.Errorf("winstore: %w", err)
	}
	if w.RecipientRand == nil || w.RecipientRand.Sign() < 0 {
		return errors.New("winstore: winner without a recipientRand")
	}
	h := t.Hash()
	_, err := tx.ExecContext(ctx, `INSERT INTO winners (hash, recipient, sender, face_value, win_prob, sender_nonce,
		recipient_rand_hash, creation_round, creation_round_block_hash, sig, recipient_rand, attempts, added_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (hash) DO UPDATE SET attempts = max(attempts, excluded.attempts)`,
		h.Hex(), addrKey(t.Recipient), addrKey(t.Sender), t.FaceValue.String(), t.WinProb.String(), int64(t.SenderNonce),
		t.RecipientRandHash.Hex(), t.CreationRound, t.CreationRoundBlockHash.Hex(), w.Sig, w.RecipientRand.String(),
		w.Attempts, now)
	if err != nil {
		return fmt.Errorf("winstore: add %s: %w", h, err)
	}
	return nil
}

// row is one winners row as stored.
type row struct {
	hash, recipient, sender, face, winProb, randHash, blockHash, rand string
	nonce, round                                                      int64
	sig                                                               []byte
	attempts                                                          int
}

// scan reads one row and checks it is the ticket its hash names.
func scan(rows *sql.Rows) (pm.Winner, error) {
	var r row
	if err := rows.Scan(&r.hash, &r.recipient, &r.sender, &r.face, &r.winProb, &r.nonce, &r.randHash,
		&r.round, &r.blockHash, &r.sig, &r.rand, &r.attempts); err != nil {
		return pm.Winner{}, err
	}
	w, err := r.winner()
	if err != nil {
		return pm.Winner{}, fmt.Errorf("corrupt winner %s: %w", r.hash, err)
	}
	if got := w.Ticket.Hash().Hex(); got != r.hash {
		return pm.Winner{}, fmt.Errorf("corrupt winner %s: its fields hash to %s", r.hash, got)
	}
	return w, nil
}

// winner parses the row's fields.
func (r row) winner() (pm.Winner, error) {
	var errs []error
	t := pm.Ticket{
		Recipient:              parseAddr(r.recipient, &errs),
		Sender:                 parseAddr(r.sender, &errs),
		FaceValue:              parseNum(r.face, &errs),
		WinProb:                parseNum(r.winProb, &errs),
		RecipientRandHash:      parseHash(r.randHash, &errs),
		CreationRound:          r.round,
		CreationRoundBlockHash: parseHash(r.blockHash, &errs),
	}
	if r.nonce < 0 || r.nonce > 1<<32-1 {
		errs = append(errs, fmt.Errorf("sender nonce %d out of range", r.nonce))
	}
	t.SenderNonce = uint32(r.nonce)
	w := pm.Winner{Ticket: t, Sig: r.sig, RecipientRand: parseNum(r.rand, &errs), Attempts: r.attempts}
	if err := errors.Join(errs...); err != nil {
		return pm.Winner{}, err
	}
	return w, t.Check()
}

// addrKey is how addresses are stored: 0x-prefixed lowercase hex.
func addrKey(a common.Address) string { return "0x" + hex.EncodeToString(a[:]) }

func parseAddr(s string, errs *[]error) common.Address {
	if !common.IsHexAddress(s) || !strings.HasPrefix(s, "0x") {
		*errs = append(*errs, fmt.Errorf("address %q", s))
	}
	return common.HexToAddress(s)
}

func parseHash(s string, errs *[]error) common.Hash {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != common.HashLength || !strings.HasPrefix(s, "0x") {
		*errs = append(*errs, fmt.Errorf("hash %q", s))
	}
	return common.BytesToHash(b)
}

// parseNum reads a stored non-negative integer of at most 256 bits.
func parseNum(s string, errs *[]error) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 256 {
		*errs = append(*errs, fmt.Errorf("number %q", s))
		return new(big.Int)
	}
	return v
}
