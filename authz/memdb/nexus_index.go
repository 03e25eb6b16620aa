package memdb

// nexus: this whole file is ours (not in upstream SpiceDB). It holds the
// index-aware lookups that readonly.go calls before falling back to its own
// (namespace) / (namespace, relation) / (subject namespace) scans.
//
// Ordering contract. Upstream's scans all return relationships in the order of
// the unique compound `id` index, i.e. by (namespace, resourceID, relation,
// subjectNamespace, subjectObjectID, subjectRelation): the non-unique indexes
// it scans are keyed by their own fields followed by the id key, and each of
// those scans fixes the leading fields. The ByResource / ChooseEfficient
// cursors (mustMakeCursorFilterFn) and the streaming limit in
// newMemdbTupleIterator rely on that order. Every iterator built here returns
// the same rows in the same order, so the callers above it need no change:
//
//   - by resource ids: one `id`-index prefix lookup per distinct id, in
//     increasing id order, concatenated. Each lookup fixes (namespace,
//     resourceID[, relation]) and the radix tree yields the rest of the id key
//     in order, so the concatenation is in id order.
//   - by subject ids: lookups in the subject index, whose order is not the id
//     order, so the rows are gathered, sorted by id key and deduplicated (two
//     selectors, or repeated ids or relations, can reach the same row).
//
// The lookups only narrow the candidate rows; the caller's filter function
// still checks every condition of the filter on each of them.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/spiceerrors"
)

// indexSubjectObject is a non-unique compound index on
// (subjectNamespace, subjectObjectID, subjectRelation). It is added to the
// relationship table in schema.go.
const indexSubjectObject = "subjectObject"

// nexusIteratorForFilter returns an iterator for filter through the `id`
// index (when it names a resource type and resource ids) or through
// indexSubjectObject (when every subject selector names a subject type and
// subject ids). ok is false when neither applies, and the caller then uses
// upstream's scan.
func nexusIteratorForFilter(txn *memdb.Txn, filter datastore.RelationshipsFilter) (it memdb.ResultIterator, ok bool, err error) {
	if filter.OptionalResourceType != "" && len(filter.OptionalResourceIds) > 0 {
		it, err := resourceIDsIterator(txn, filter.OptionalResourceType, filter.OptionalResourceIds, filter.OptionalResourceRelation)
		return it, true, err
	}

	if len(filter.OptionalSubjectsSelectors) == 0 {
		return nil, false, nil
	}
	for _, selector := range filter.OptionalSubjectsSelectors {
		if selector.OptionalSubjectType == "" || len(selector.OptionalSubjectIds) == 0 {
			// This selector admits subjects the index cannot enumerate.
			return nil, false, nil
		}
	}
	it, err = subjectIDsIterator(txn, filter.OptionalSubjectsSelectors...)
	return it, true, err
}

// nexusReverseIterator is the subject-side counterpart for
// ReverseQueryRelationships: ok is false unless the filter names subject ids.
func nexusReverseIterator(txn *memdb.Txn, subjectsFilter datastore.SubjectsFilter) (it memdb.ResultIterator, ok bool, err error) {
	if subjectsFilter.SubjectType == "" || len(subjectsFilter.OptionalSubjectIds) == 0 {
		return nil, false, nil
	}
	it, err = subjectIDsIterator(txn, subjectsFilter.AsSelector())
	return it, true, err
}

// resourceIDsIterator concatenates one `id`-index prefix lookup per distinct
// resource id, in increasing id order.
func resourceIDsIterator(txn *memdb.Txn, namespace string, resourceIDs []string, relation string) (memdb.ResultIterator, error) {
	ids := resourceIDs
	if len(ids) > 1 {
		ids = slices.Clone(ids)
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}

	iters := make([]memdb.ResultIterator, 0, len(ids))
	for _, id := range ids {
		// With the "_prefix" suffix, go-memdb terminates every argument but the
		// last, which is taken as a prefix; an empty last argument therefore
		// matches the preceding fields exactly.
		args := []any{namespace, id, ""}
		if relation != "" {
			args = []any{namespace, id, relation, ""}
		}
		it, err := txn.Get(tableRelationship, indexID+"_prefix", args...)
		if err != nil {
			return nil, err
		}
		iters = append(iters, it)
	}

	if len(iters) == 1 {
		return iters[0], nil
	}
	return &concatIterator{iters: iters}, nil
}

// subjectIDsIterator gathers the rows of the subjects the selectors name from
// indexSubjectObject and returns them in id-index order, each once. Every
// selector must name a subject type and at least one subject id.
func subjectIDsIterator(txn *memdb.Txn, selectors ...datastore.SubjectsSelector) (memdb.ResultIterator, error) {
	var rows []*relationship
	gather := func(index string, args ...any) error {
		it, err := txn.Get(tableRelationship, index, args...)
		if err != nil {
			return err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			rows = append(rows, raw.(*relationship))
		}
		return nil
	}

	for _, selector := range selectors {
		relations := selectorRelations(selector.RelationFilter)
		for _, id := range selector.OptionalSubjectIds {
			if relations == nil {
				if err := gather(indexSubjectObject+"_prefix", selector.OptionalSubjectType, id, ""); err != nil {
					return nil, err
				}
				continue
			}
			for _, relation := range relations {
				if err := gather(indexSubjectObject, selector.OptionalSubjectType, id, relation); err != nil {
					return nil, err
				}
			}
		}
	}

	slices.SortFunc(rows, compareByID)
	rows = slices.CompactFunc(rows, func(a, b *relationship) bool { return compareByID(a, b) == 0 })
	return &sliceIterator{rows: rows}, nil
}

// selectorRelations returns the subject relations a relation filter admits,
// as filterFuncForFilters reads it, or nil when it admits relations the caller
// cannot list (any relation, or any non-ellipsis relation).
func selectorRelations(rf datastore.SubjectRelationFilter) []string {
	if rf.OnlyNonEllipsisRelations {
		return nil
	}
	var relations []string
	if rf.IncludeEllipsisRelation {
		relations = append(relations, datastore.Ellipsis)
	}
	if rf.NonEllipsisRelation != "" {
		relations = append(relations, rf.NonEllipsisRelation)
	}
	return relations
}

// compareByID orders relationships as the `id` index does. Its key is the six
// fields, each followed by a NUL byte; as the fields hold no NUL, that is the
// field-by-field string order.
func compareByID(a, b *relationship) int {
	if c := strings.Compare(a.namespace, b.namespace); c != 0 {
		return c
	}
	if c := strings.Compare(a.resourceID, b.resourceID); c != 0 {
		return c
	}
	if c := strings.Compare(a.relation, b.relation); c != 0 {
		return c
	}
	if c := strings.Compare(a.subjectNamespace, b.subjectNamespace); c != 0 {
		return c
	}
	if c := strings.Compare(a.subjectObjectID, b.subjectObjectID); c != 0 {
		return c
	}
	return strings.Compare(a.subjectRelation, b.subjectRelation)
}

// concatIterator yields the rows of its iterators one after the other.
type concatIterator struct {
	iters []memdb.ResultIterator
}

// WatchCh is never closed: the readers here iterate snapshots and nothing in
// this package watches result iterators.
func (c *concatIterator) WatchCh() <-chan struct{} { return nil }

func (c *concatIterator) Next() any {
	for len(c.iters) > 0 {
		if raw := c.iters[0].Next(); raw != nil {
			return raw
		}
		c.iters = c.iters[1:]
	}
	return nil
}

// sliceIterator yields rows gathered in advance.
type sliceIterator struct {
	rows []*relationship
}

// WatchCh is never closed; see concatIterator.WatchCh.
func (s *sliceIterator) WatchCh() <-chan struct{} { return nil }

func (s *sliceIterator) Next() any {
	if len(s.rows) == 0 {
		return nil
	}
	row := s.rows[0]
	s.rows = s.rows[1:]
	return row
}

var (
	_ memdb.ResultIterator = (*concatIterator)(nil)
	_ memdb.ResultIterator = (*sliceIterator)(nil)
)

// iteratorForFilter is upstream's (moved here from readonly.go, whose only
// change it was): the id lookups first, else upstream's namespace scan.
func iteratorForFilter(txn *memdb.Txn, filter datastore.RelationshipsFilter) (memdb.ResultIterator, error) {
	// nexus: look resource ids / subject ids up through compound indexes when the filter names them.
	if iter, ok, err := nexusIteratorForFilter(txn, filter); ok || err != nil {
		return iter, err
	}

	// "_prefix" is a specialized index suffix used by github.com/hashicorp/go-memdb to match on
	// a prefix of a string.
	// See: https://github.com/hashicorp/go-memdb/blob/9940d4a14258e3b887bfb4bc6ebc28f65461a01c/txn.go#L531
	index := indexNamespace + "_prefix"

	var args []any
	if filter.OptionalResourceType != "" {
		args = append(args, filter.OptionalResourceType)
		index = indexNamespace
	} else {
		args = append(args, "")
	}

	if filter.OptionalResourceType != "" && filter.OptionalResourceRelation != "" {
		args = append(args, filter.OptionalResourceRelation)
		index = indexNamespaceAndRelation
	}

	if len(args) == 0 {
		return nil, spiceerrors.MustBugf("cannot specify an empty filter")
	}

	iter, err := txn.Get(tableRelationship, index, args...)
	if err != nil {
		return nil, fmt.Errorf("unable to get iterator for filter: %w", err)
	}

	return iter, err
}
