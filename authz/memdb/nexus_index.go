package memdb

// nexus: this whole file is ours (not in upstream SpiceDB). It chooses how
// the readers in readonly.go and readwrite.go walk the relationships
// (nexus_rels.go).
//
// Ordering contract. Upstream's scans all return relationships in the order of
// its unique compound `id` index, i.e. by (namespace, resourceID, relation,
// subjectNamespace, subjectObjectID, subjectRelation). The ByResource /
// ChooseEfficient cursors (mustMakeCursorFilterFn) and the streaming limit in
// newMemdbTupleIterator rely on that order. Every iterator built here returns
// the rows in that order:
//
//   - by resource ids: one byResource scan per distinct id, in increasing id
//     order, concatenated. Each fixes (namespace, resourceID[, relation]) and
//     the tree yields the rest of the key in order.
//   - by resource type (and id prefix), or everything: one byResource scan.
//   - by subject ids, or a subject type alone: bySubject scans, whose order is
//     not the id order, so the rows are gathered, sorted by id key and
//     deduplicated (two selectors, or repeated ids or relations, can reach the
//     same row).
//
// The lookups only narrow the candidate rows; the caller's filter function
// still checks every condition of the filter on each of them.

import (
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"

	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/datastore/options"
)

// iteratorForFilter returns the rows that filter may match, in id order:
// those of the resource ids it names, else those of the subjects it names
// (when every selector names a subject type and ids), else those of its
// resource type (and resource id prefix), else every row.
//
// A byResource scan begins at after (a ByResource cursor; nil for none)
// when that is past its first row: the cursor filter above still drops
// what is not after it, but each page of a paginated read no longer walks
// every row of the pages before it (reading every folder's relationships
// at a hundred thousand folders took 30 s, quadratic in the pages).
func iteratorForFilter(rels *relTrees, filter datastore.RelationshipsFilter, after *relKey) memdb.ResultIterator {
	if filter.OptionalResourceType != "" && len(filter.OptionalResourceIds) > 0 {
		return resourceIDsIterator(rels, filter.OptionalResourceType, filter.OptionalResourceIds, filter.OptionalResourceRelation)
	}
	if len(filter.OptionalSubjectsSelectors) > 0 && !slices.ContainsFunc(filter.OptionalSubjectsSelectors, func(s datastore.SubjectsSelector) bool {
		return s.OptionalSubjectType == "" || len(s.OptionalSubjectIds) == 0 // admits subjects no lookup can list
	}) {
		return subjectIDsIterator(rels, filter.OptionalSubjectsSelectors...)
	}
	if filter.OptionalResourceType != "" {
		ns := rels.ids.lookup(filter.OptionalResourceType)
		prefix := filter.OptionalResourceIDPrefix
		// Rows whose ids share a prefix are contiguous within their type.
		return rels.scanResource(resume(pivot(filter.OptionalResourceType, prefix), after), func(w relRow) bool {
			return w.ns == ns && strings.HasPrefix(rels.ids.str(w.rid), prefix)
		})
	}
	return rels.scanResource(resume(pivot(), after), func(relRow) bool { return true })
}

// resume is the later of a scan's first key and after.
func resume(first relKey, after *relKey) relKey {
	if after != nil && lessKey(first, *after) {
		return *after
	}
	return first
}

// cursorRow is the byResource key of a ByResource (or ChooseEfficient,
// which reads in that order) cursor, nil for none.
func cursorRow(after options.Cursor, order options.SortOrder) *relKey {
	if after == nil || (order != options.ByResource && order != options.ChooseEfficient) {
		return nil
	}
	res, sub := after.Resource, after.Subject
	row := pivot(res.ObjectType, res.ObjectID, res.Relation, sub.ObjectType, sub.ObjectID, sub.Relation)
	return &row
}

// reverseIterator returns, in id order, the rows of the subjects the filter
// names (the filter function checks the rest).
func reverseIterator(rels *relTrees, subjectsFilter datastore.SubjectsFilter) memdb.ResultIterator {
	if subjectsFilter.SubjectType != "" && len(subjectsFilter.OptionalSubjectIds) > 0 {
		return subjectIDsIterator(rels, subjectsFilter.AsSelector())
	}
	sns := rels.ids.lookup(subjectsFilter.SubjectType)
	return sortedByID(rels.scanSubject(subjectPivot(subjectsFilter.SubjectType, "", ""), func(w relRow) bool { return w.sns == sns }))
}

// resourceIDsIterator concatenates one scan per distinct resource id, in
// increasing id order.
func resourceIDsIterator(rels *relTrees, namespace string, resourceIDs []string, relation string) memdb.ResultIterator {
	ids := resourceIDs
	if len(ids) > 1 {
		ids = slices.Clone(ids)
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	ns, rel := rels.ids.lookup(namespace), rels.ids.lookup(relation)
	iters := make([]memdb.ResultIterator, 0, len(ids))
	for _, id := range ids {
		rid := rels.ids.lookup(id)
		if ns == absentID || rid == absentID || (relation != "" && rel == absentID) {
			continue // no row holds one of its strings
		}
		iters = append(iters, rels.scanResource(pivot(namespace, id, relation), func(w relRow) bool {
			return w.ns == ns && w.rid == rid && (relation == "" || w.rel == rel)
		}))
	}
	if len(iters) == 1 {
		return iters[0]
	}
	return &concatIterator{iters: iters}
}

// subjectIDsIterator gathers the rows of the subjects the selectors name
// and returns them in id order, each once. Every selector must name a
// subject type and at least one subject id.
func subjectIDsIterator(rels *relTrees, selectors ...datastore.SubjectsSelector) memdb.ResultIterator {
	var iters []memdb.ResultIterator
	for _, selector := range selectors {
		sns := rels.ids.lookup(selector.OptionalSubjectType)
		relations := selectorRelations(selector.RelationFilter)
		for _, id := range selector.OptionalSubjectIds {
			sid := rels.ids.lookup(id)
			if relations == nil {
				iters = append(iters, rels.scanSubject(subjectPivot(selector.OptionalSubjectType, id, ""), func(w relRow) bool {
					return w.sns == sns && w.sid == sid
				}))
				continue
			}
			for _, relation := range relations {
				srel := rels.ids.lookup(relation)
				iters = append(iters, rels.scanSubject(subjectPivot(selector.OptionalSubjectType, id, relation), func(w relRow) bool {
					return w.sns == sns && w.sid == sid && w.srel == srel
				}))
			}
		}
	}
	return sortedByID(&concatIterator{iters: iters})
}

// sortedByID gathers the rows of it and yields them in id order, each once.
func sortedByID(it memdb.ResultIterator) memdb.ResultIterator {
	var rows []*relationship
	for raw := it.Next(); raw != nil; raw = it.Next() {
		rows = append(rows, raw.(*relationship))
	}
	slices.SortFunc(rows, compareByID)
	rows = slices.CompactFunc(rows, func(a, b *relationship) bool { return compareByID(a, b) == 0 })
	return &sliceIterator{rows: rows}
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
