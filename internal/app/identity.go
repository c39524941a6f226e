package app

import (
	"log/slog"
	"math/big"

	"github.com/castnet/castnet/internal/config"
	"github.com/castnet/castnet/internal/sign"
)

// loadKey opens a role's key file, or makes a throwaway key and says so.
func loadKey(id config.Identity, role string, log *slog.Logger) (sign.Key, error) {
	if id.KeyFile != "" {
		k, err := sign.Load(id.KeyFile, id.Password)
		if err != nil {
			return sign.Key{}, err
		}
		log.Info("signing as "+k.Address.Hex(), "role", role, "key", k.Path)
		return k, nil
	}
	k, err := sign.NewKey()
	if err != nil {
		return sign.Key{}, err
	}
	log.Warn("no -eth-key: signing as a throwaway key that is lost at exit (make one to keep with `castnet keys new`)",
		"role", role, "address", k.Address.Hex())
	return k, nil
}

// chainID is the EIP-712 domain's chainId, or nil for none.
func chainID(id int64) *big.Int {
	if id == 0 {
		return nil
	}
	return big.NewInt(id)
}
