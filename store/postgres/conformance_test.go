package postgres

import (
	"testing"

	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/storetest"
)

func TestLogConformance(t *testing.T) {
	testDSN(t)
	storetest.TestLog(t, func(t *testing.T) store.Log {
		return openLog(t, newSchema(t))
	})
}
