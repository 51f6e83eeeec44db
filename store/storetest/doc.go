// Package storetest is the conformance suite that every store.Log and
// store.Replica implementation runs, so that the publisher and the poller
// can rely on one behaviour whatever the storage.
//
// # Logs
//
// An implementation's tests call [TestLog] with a function that opens a
// fresh, empty log:
//
//	func TestConformance(t *testing.T) {
//		storetest.TestLog(t, func(t *testing.T) store.Log {
//			l := mystore.Open(…)
//			t.Cleanup(func() { l.Close() })
//			return l
//		})
//	}
//
// # Keyrings
//
// A Log that encrypts (store.Keyring) also runs [TestKeyring], with a
// [KeyringHarness] that opens a fresh log encrypting or not, and, for a
// store whose Logs can share storage, another Log on the same storage.
//
// # Replicas
//
// A replica's effects are its projection's, which the suite cannot see
// through store.Replica alone. [TestReplica] takes a [ReplicaHarness] that
// opens a replica whose projection records the IDs it applies in the
// replica's own storage (so that a rolled-back batch rolls them back too)
// and can be made to fail, and reads those IDs back.
package storetest
