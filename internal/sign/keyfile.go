// Package sign holds castnet's Ethereum identities: keystore files (the
// Web3 Secret Storage format go-ethereum and wallets use) and, later, the
// EIP-712 records every role signs.
package sign

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
)

// Errors of the package.
var (
	// ErrWrongPassword means the key file did not decrypt with the password.
	ErrWrongPassword = errors.New("wrong password for the key file")
	// ErrKeyFile means the file is not a keystore key.
	ErrKeyFile = errors.New("not a keystore key file")
)

// Strength is the scrypt cost of a new key file.
type Strength struct{ N, P int }

// Standard is go-ethereum's default cost (about 1 s and 256 MiB to open):
// for keys that hold value. Light (about 0.1 s, 4 MiB) suits throwaway keys
// and tests.
var (
	Standard = Strength{keystore.StandardScryptN, keystore.StandardScryptP}
	Light    = Strength{keystore.LightScryptN, keystore.LightScryptP}
)

// Key is an unlocked Ethereum key and where it came from.
type Key struct {
	Address common.Address
	Private *ecdsa.PrivateKey
	// Path is the key file, or "" for a key that lives only in memory.
	Path string
}

// NewKey makes a fresh key in memory.
func NewKey() (Key, error) {
	priv, err := crypto.GenerateKey()
	if err != nil {
		return Key{}, err
	}
	return Key{Address: crypto.PubkeyToAddress(priv.PublicKey), Private: priv}, nil
}

// ParsePrivateKey reads a hex private key (with or without 0x).
func ParsePrivateKey(s string) (Key, error) {
	priv, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if err != nil {
		return Key{}, fmt.Errorf("private key: %w", err)
	}
	return Key{Address: crypto.PubkeyToAddress(priv.PublicKey), Private: priv}, nil
}

// Save encrypts k with password into dir, named as geth names key files
// (UTC--<time>--<address>), readable by the owner only, and returns it with
// Path set. An existing file is never overwritten.
func Save(k Key, dir, password string, s Strength) (Key, error) {
	if password == "" {
		return Key{}, errors.New("refusing to save a key without a password")
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return Key{}, err
	}
	data, err := keystore.EncryptKey(&keystore.Key{Id: id, Address: k.Address, PrivateKey: k.Private}, password, s.N, s.P)
	if err != nil {
		return Key{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, err
	}
	name := fmt.Sprintf("UTC--%s--%x", time.Now().UTC().Format("2006-01-02T15-04-05.000000000Z"), k.Address)
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return Key{}, err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return Key{}, err
	}
	k.Path = path
	return k, nil
}

// Load decrypts the key file at path.
func Load(path, password string) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, err
	}
	if _, err := FileAddress(data); err != nil {
		return Key{}, fmt.Errorf("%s: %w", path, err)
	}
	k, err := keystore.DecryptKey(data, password)
	if errors.Is(err, keystore.ErrDecrypt) {
		return Key{}, fmt.Errorf("%s: %w", path, ErrWrongPassword)
	}
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w: %v", path, ErrKeyFile, err)
	}
	return Key{Address: k.Address, Private: k.PrivateKey, Path: path}, nil
}

// FileAddress reads the address a key file declares, without its password.
func FileAddress(data []byte) (common.Address, error) {
	var f struct {
		Address string          `json:"address"`
		Crypto  json.RawMessage `json:"crypto"`
		Version int             `json:"version"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	a := strings.TrimPrefix(f.Address, "0x")
	if len(f.Crypto) == 0 || f.Version != 3 || len(a) != 40 || !common.IsHexAddress(a) {
		return common.Address{}, fmt.Errorf("%w: want a version 3 file with an address and a crypto section", ErrKeyFile)
	}
	return common.HexToAddress(a), nil
}
