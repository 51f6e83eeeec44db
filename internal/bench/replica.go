package bench

import (
	"context"

	"github.com/eventfeed/eventfeed/store/sqlite"
)

// openReplica opens an SQLite replica at path with the ready projection
// (sqlite.Latest: the latest event of each subject, as a consumer's read
// model would keep), committing each batch with its checkpoint.
func openReplica(ctx context.Context, path string) (*sqlite.Replica, error) {
	return sqlite.OpenReplica(ctx, path, sqlite.ReplicaOptions{})
}
