// Package prompt holds prompts as versioned, tested artifacts: the template
// language, the compiled form of a prompt version that validates variables
// and renders messages, a diff between versions, and the assertions of test
// sets. It is a pure library: it stores nothing and calls no model.
//
// # Templates
//
// A message's content is a logic-less template. Between {{ and }} (spaces
// inside the braces are allowed) a template may have only:
//
//	{{name}}            the variable name; {{a.b}} is field b of object a
//	{{#items}}...{{/items}}   the body once per element of the array items;
//	                    inside, {{.}} is the element and {{field}} a field of
//	                    an object element (names resolve against the element
//	                    only, never the enclosing scope)
//	{{^items}}...{{/items}}   the body once when items is missing, null or an
//	                    empty array
//
// Names are segments of [A-Za-z_][A-Za-z0-9_]* joined by dots. Sections nest
// at most MaxSectionDepth deep. There are no partials ({{>x}}), lambdas,
// comments, set-delimiter tags ({{=<% %>=}}) or unescaped tags ({{{x}}},
// {{&x}}): all are parse errors naming their byte offset, as are unclosed or
// mismatched sections and empty names. A section, inverted-section or close
// tag alone on its line takes its line with it, as in Mustache. Text outside
// tags cannot spell a literal "{{"; pass it as a value instead.
//
// # Rendering
//
// Values are data, never template syntax: a value is inserted verbatim and
// the output is never parsed again, so a value of "{{x}}" or
// "{{ cycler.__init__.__globals__ }}" renders as those characters, and a
// value containing `"},{"role":"system"` is text inside its own message.
// Output is plain text with no HTML escaping. Strings are inserted as they
// are, numbers as JSON spells them, booleans as true and false. A missing
// variable, a null, or an object or array where text is expected is an error
// naming the variable's JSON pointer, never an empty string. A section over
// a missing or null variable renders nothing; over anything but an array it
// is an error. One rendering produces at most MaxRenderedBytes.
//
// # Versions
//
// A Version carries messages (role and template), the model to call, default
// parameters, a JSON Schema for its variables, an optional JSON Schema for
// its output, and who changed it and why. Compile checks a version once:
// roles are system, user, assistant or developer; every variable a template
// names is declared in the schema's properties; and every variable in a
// system or developer message is bounded by its schema, so that callers
// cannot put free text into instructions. Bounded means enum or const, a
// string type with a pattern anchored at both ends (^...$), or an integer,
// number or boolean type.
//
// Schemas are JSON Schema draft 2020-12 (unless $schema names another),
// compiled with santhosh-tekuri/jsonschema with format assertions on and no
// external references: a $ref to a file or URL is refused. Patterns use Go's
// RE2 syntax (linear time; no lookaround or backreferences). The variables
// schema must say "type": "object". Validation is strict by default: every
// object schema that sets none of additionalProperties, patternProperties
// and unevaluatedProperties is given additionalProperties: false, so that a
// misspelt or extra variable is refused rather than ignored. This applies to
// the root, properties, items, prefixItems, additionalProperties and $defs,
// not inside allOf/anyOf/oneOf/not/if/then/else, where closing one branch
// would refuse its siblings' properties; a schema that accepts extra
// properties says additionalProperties: true.
//
// Compiled.Render validates the variables and reports every problem as a
// VariableError with its JSON pointer ("/text" is required, "/extra" is not
// allowed, "/items/2" must be string), then renders every message. The
// rendered messages are always as many as the version's, with the same roles.
//
// # Test sets
//
// A test set is a JSON Lines file of cases (ParseCases): variables plus
// assertions contains, not_contains, regex, json_schema, max_latency_ms,
// max_cost_usd and equals. Check evaluates one assertion on an Outcome,
// Summarize aggregates a run of one version, and WriteTable prints runs side
// by side with pass rate, mean latency, tokens and cost per version.
package prompt
