package postgres

import (
	"testing"

	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/storetest"
)

func TestLocate(t *testing.T) {
	testDSN(t)
	storetest.TestLocate(t, func(t *testing.T) store.Log { return openLog(t, newSchema(t)) })
}
