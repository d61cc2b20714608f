package datastore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestTransientEtcdErrorsAreClassifiedAsUnreachable(t *testing.T) {
	e := &Etcd{cfg: Config{Endpoints: []string{"http://10.0.0.1:2379"}}, timeout: 5 * time.Second}
	for _, tc := range []struct {
		name        string
		err         error
		unreachable bool
	}{
		{"a request that ran out of time", context.DeadlineExceeded, true},
		{"etcd's own request timeout", rpctypes.ErrTimeout, true},
		{"a cluster without a leader", rpctypes.ErrNoLeader, true},
		{"a timeout because the leader failed", rpctypes.ErrTimeoutDueToLeaderFail, true},
		{"a timeout because the connection was lost", rpctypes.ErrTimeoutDueToConnectionLost, true},
		{"a wrapped no-leader error", fmt.Errorf("txn: %w", rpctypes.ErrNoLeader), true},
		{"a request too large", rpctypes.ErrRequestTooLarge, false},
		{"a cancelled request", context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := errors.Is(e.wrap(tc.err), ErrUnreachable)
			if got != tc.unreachable {
				t.Errorf("wrap(%v): unreachable = %v, expected %v", tc.err, got, tc.unreachable)
			}
		})
	}
}
