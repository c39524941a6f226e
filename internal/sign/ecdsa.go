package sign

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// ErrSignature means a signature is malformed or recovers no address.
var ErrSignature = errors.New("bad signature")

// SignatureLen is the length of an Ethereum signature: r ‖ s ‖ v.
const SignatureLen = 65

// SignHash signs a 32-byte digest and returns r ‖ s ‖ v with v = 27 or 28,
// the form wallets produce and contracts expect.
func SignHash(k Key, digest []byte) ([]byte, error) {
	if k.Private == nil {
		return nil, errors.New("sign: no private key")
	}
	sig, err := crypto.Sign(digest, k.Private)
	if err != nil {
		return nil, err
	}
	sig[64] += 27
	return sig, nil
}

// Recover returns the address that signed digest. The signature must be 65
// bytes with v of 27/28 (wallets) or 0/1 (go-ethereum), and low-s (EIP-2):
// a high-s twin of a valid signature is refused, so a signature cannot be
// altered into a second valid one.
func Recover(digest, sig []byte) (common.Address, error) {
	if len(sig) != SignatureLen {
		return common.Address{}, fmt.Errorf("%w: %d bytes, want %d", ErrSignature, len(sig), SignatureLen)
	}
	v := sig[64]
	if v >= 27 {
		v -= 27
	}
	if v > 1 {
		return common.Address{}, fmt.Errorf("%w: v is %d, want 27, 28, 0 or 1", ErrSignature, sig[64])
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
	if !crypto.ValidateSignatureValues(v, r, s, true) {
		return common.Address{}, fmt.Errorf("%w: r or s out of range (high-s signatures are refused)", ErrSignature)
	}
	norm := make([]byte, SignatureLen)
	copy(norm, sig)
	norm[64] = v
	pub, err := crypto.SigToPub(digest, norm)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// PersonalHash is the EIP-191 version 0x45 digest of a 32-byte hash:
// keccak256("\x19Ethereum Signed Message:\n32" ‖ hash), what personal_sign
// and Livepeer's tickets sign.
func PersonalHash(hash []byte) []byte {
	return crypto.Keccak256([]byte(fmt.Sprintf("\x19Ethereum Signed Message:\n%d", len(hash))), hash)
}
