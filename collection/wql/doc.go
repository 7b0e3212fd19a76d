// Package wql implements the WQL dialect of Configuration Manager 2007
// collection query rules (SMS_CollectionRuleQuery.QueryExpression,
// reference §1.6, S-COLL), so that a query pasted from a real site selects
// the same resources here. ConfigMgr translates these queries to SQL and runs
// them on SQL Server; the semantics below are SQL's.
//
// A query is compiled once against a Schema, prepared once per evaluation
// pass (fixing GETDATE() and computing any sub-select that spans resources),
// and matched against each resource:
//
//	q, err := wql.Compile(src, schema)        // *SyntaxError on bad input
//	p := q.Prepare(now, allResources)         // allResources may be nil unless q.Global()
//	if p.Match(resource) { … }
//
// # Dialect
//
//	SELECT [DISTINCT] * | item, … FROM Class [[AS] alias]
//	    { [INNER | LEFT [OUTER]] JOIN Class [[AS] alias] ON a.ResourceID = b.ResourceID }
//	    [WHERE condition] [ORDER BY property [ASC|DESC], …]
//
// Conditions combine with AND, OR, NOT and parentheses. Predicates are
// comparisons (= != <> < <= > >=), [NOT] LIKE, [NOT] IN (literal, …),
// [NOT] IN (SELECT property FROM … WHERE …) and IS [NOT] NULL. Values are
// properties (Class.Property, alias.Property, or an unqualified Property
// that exactly one class of the SELECT has), quoted strings ('…' or "…",
// with \", \' and \\ escapes), integers, TRUE, FALSE, NULL, and the
// functions UPPER, LOWER, GETDATE(), DATEDIFF(part, a, b) and
// DATEADD(part, n, date), where part is yy, qq, mm, wk, dd, hh, mi or ss (or
// SQL Server's other spellings: year, month, day, …). Keywords, class and
// property names are case-insensitive. The select list is checked against
// the schema but does not change which resources match; ORDER BY is checked
// and ignored. RIGHT, FULL and CROSS joins are rejected: a collection query
// selects resources.
//
// LIKE has SQL Server's wildcards: % (any run), _ (one character), [a-z]
// and [abc] (one of a set), [^…] (one not in a set); [%], [_] and [[] match
// the character itself.
//
// # Semantics
//
// String comparisons and LIKE are case-insensitive, as under SQL Server's
// default collation. When one side is an Integer (or Boolean, as 0 or 1)
// and the other a String, they compare as numbers: a quoted literal is
// converted when the query is compiled (ResourceId = "16777220"), a String
// property per row, and a String that is not a number compares as UNKNOWN
// (BuildNumber >= 6000). A DateTime compared with a quoted literal reads the
// literal as a date: WMI's DATETIME (20090115000000.000000+000),
// yyyy-mm-dd[ hh:mm:ss] or mm/dd/yyyy [hh:mm:ss]. Times are UTC.
//
// NULL follows SQL's three-valued logic: a comparison with NULL is UNKNOWN,
// NOT UNKNOWN is UNKNOWN, and x NOT IN (…, NULL) is never true.
//
// An Array property (SystemOUName, SystemGroupName, IPSubnets, …) is
// compared element by element, and the predicate is true when any element
// satisfies it. This holds for != and NOT LIKE too:
// SystemOUName != "X" is true when some OU is not X. IS NULL is true for an
// empty or absent array.
//
// A resource matches when some combination of its rows — its one
// SMS_R_System row and one row of each joined class, or NULLs for a LEFT
// joined class with no rows — makes WHERE true. An INNER joined class with
// no rows leaves no combination, so the resource does not match.
//
// SMS_R_System.ResourceId [NOT] IN (SELECT ResourceID FROM SMS_G_System_X
// WHERE …), the usual way to select machines that lack something, is
// compiled to "the resource has (no) row of X satisfying …", evaluated on
// the resource's own rows. Any other sub-select (Name IN (SELECT Name FROM
// …)) makes the query Global: its values are computed over all resources
// by Prepare.
//
// # Speed
//
// Compile resolves every name to an index and converts every literal;
// Prepare folds constants (DATEADD(dd, -30, GETDATE()) becomes one instant)
// and builds closures. Match does not allocate or look names up in the usual
// cases. Each AND term of a WHERE is tested on the rows of the one class it
// reads, so a join costs the sum of the classes' rows, not their product;
// a WHERE whose terms mix classes is expanded into alternatives, and only
// when that is not enough are row combinations enumerated. LIKE patterns
// made of text and % compile to prefix, suffix and substring searches that
// fold ASCII case eight bytes at a time.
//
// A caller that interns repeated values (DisplayName, Publisher, OU paths,
// subnets) can tag each with a dense id (Sym, Interned): a WHERE term, or a
// joined class's whole set of terms, that reads one String or array column
// of its row is then evaluated once per distinct value and remembered by id
// in the Prepared, so a LIKE over every ADD_REMOVE_PROGRAMS row becomes a bit
// test per row. Query.Columns lists the properties a query reads, so such a
// caller can also decode only those.
package wql
