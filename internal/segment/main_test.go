package segment_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a segment reader blocked.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
