package supervisor

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/berthd/berth/pkg/metadata"
	"github.com/berthd/berth/pkg/namespaces"
)

// inflightLabel marks a lease supervisord holds for an operation of its own
// in flight (a pull). None survives a restart, so New drops those leases:
// left alone, a lease of a pull a crash cut would keep what it touched from
// the garbage collector for up to its hour. Leases clients made stay.
const inflightLabel = "berth.inflight"

// dropInflightLeases removes, in every namespace, the leases marked with
// inflightLabel.
func (s *Server) dropInflightLeases() error {
	nss, err := s.db.Namespaces()
	if err != nil {
		return fmt.Errorf("supervisor: leases: %w", err)
	}
	for _, ns := range nss {
		ctx := namespaces.WithNamespace(context.Background(), ns)
		err := s.db.Update(ctx, func(tx *metadata.Tx) error {
			var drop []string
			err := tx.ForEach(leasesKind, func(key string, raw []byte) error {
				var l lease
				if json.Unmarshal(raw, &l) == nil && l.Labels[inflightLabel] != "" {
					drop = append(drop, key)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range drop {
				if err := tx.Delete(leasesKind, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("supervisor: leases of namespace %s: %w", ns, err)
		}
	}
	return nil
}
