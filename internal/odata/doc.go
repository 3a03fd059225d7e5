// Package odata parses the OData system query options Azure APIs accept:
// $filter into an expression tree, and $select and $expand into lists.
//
// The $filter grammar is the subset Azure Batch and Azure Resource Manager
// use:
//
//	expr    = and { "or" and }
//	and     = unary { "and" unary }
//	unary   = "not" unary | "(" expr ")" | compare | call
//	compare = field ("eq" | "ne") literal
//	call    = name "(" [ arg { "," arg } ] ")"      e.g. startswith(id, 'x'), atScope()
//	literal = 'string' ('' escapes a quote) | integer | true | false
//
// Keywords, field names and function names are case-insensitive. A caller
// says which fields and functions it accepts ([Options]); any other is an
// *[Error], as is any syntax error. Parsing is bounded: a filter longer than
// 4096 bytes or nested deeper than 32 levels is refused.
//
// The parsed [Filter] is a plain tree ([And], [Or], [Not], [Compare], [Call])
// that services read to narrow their queries, and that [Filter.Match]
// evaluates over an entity's fields. [Filter.MayMatch] evaluates it with only
// some fields known, for a service that pre-filters what a caller filters
// fully. The package does no I/O; every value is safe for concurrent reads.
package odata
