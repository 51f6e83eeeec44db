package memory_test

import (
	"testing"

	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
	"github.com/eventfeed/eventfeed/store/storetest"
)

func TestLocate(t *testing.T) {
	storetest.TestLocate(t, func(t *testing.T) store.Log {
		l := memory.NewLog(memory.Options{})
		t.Cleanup(func() { l.Close() })
		return l
	})
}
