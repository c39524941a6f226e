package glass

import (
	"testing"

	"github.com/castnet/castnet/internal/bench/benchtest"
)

// exe is the castnet binary the smoke test runs its nodes from.
var exe string

func TestMain(m *testing.M) { benchtest.Main(m, &exe) }
