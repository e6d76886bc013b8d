// Package schema holds the JSON Schema of flowjoy's records and validates
// records against it; tests everywhere use it on every record they make.
package schema

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FlowSchema is the text of flow.schema.json.
//
//go:embed flow.schema.json
var FlowSchema []byte

var (
	compileOnce sync.Once
	compiled    *jsonschema.Schema
	compileErr  error
)

func flowSchema() (*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(FlowSchema))
		if err != nil {
			compileErr = fmt.Errorf("flow.schema.json: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource("flow.schema.json", doc); err != nil {
			compileErr = err
			return
		}
		compiled, compileErr = c.Compile("flow.schema.json")
	})
	return compiled, compileErr
}

// ValidateRecord checks one JSON line against the flow record schema.
func ValidateRecord(line []byte) error {
	s, err := flowSchema()
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		return err
	}
	return nil
}

// ValidateLines checks every line of JSON-lines output and returns the
// records decoded as generic maps.
func ValidateLines(out []byte) ([]map[string]any, error) {
	var recs []map[string]any
	for i, line := range bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if err := ValidateRecord(line); err != nil {
			return recs, fmt.Errorf("record %d: %v\n%s", i+1, err, line)
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return recs, fmt.Errorf("record %d: %v", i+1, err)
		}
		recs = append(recs, m)
	}
	return recs, nil
}
