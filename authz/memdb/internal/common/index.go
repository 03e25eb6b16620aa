package common

import (
	"slices"

	"github.com/authzed/spicedb/pkg/datastore/options"
	"github.com/authzed/spicedb/pkg/datastore/queryshape"
)

// IndexDefinition is a definition of an index for a datastore.
type IndexDefinition struct {
	// Name is the unique name for the index.
	Name string

	// ColumnsSQL is the SQL fragment of the columns over which this index will apply.
	ColumnsSQL string

	// Shapes are those query shapes for which this index should be used.
	Shapes []queryshape.Shape

	// IsDeprecated is true if this index is deprecated and should not be used.
	IsDeprecated bool

	// PreferredSortOrder is the preferred sort order for this index, if any.
	PreferredSortOrder options.SortOrder
}

// matchesShape returns true if the index matches the given shape.
func (id IndexDefinition) matchesShape(shape queryshape.Shape) bool {
	return slices.Contains(id.Shapes, shape)
}
