package sqlite_test

import (
	"testing"

	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
	"github.com/eventfeed/eventfeed/store/storetest"
)

func TestLocate(t *testing.T) {
	storetest.TestLocate(t, func(t *testing.T) store.Log { return openLog(t, "", sqlite.Options{}) })
}
