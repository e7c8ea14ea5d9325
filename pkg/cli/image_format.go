package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// row is one object to print: field name -> value, as the --format
// templates see it ({{.Repository}}).
type row map[string]string

// MarshalJSON is a row's JSON form as docker's: HTML characters escaped,
// as its placeholder objects marshal themselves with json.Marshal.
func (r row) MarshalJSON() ([]byte, error) { return json.Marshal(map[string]string(r)) }

// templateFuncs are the helpers docker's --format offers.
var templateFuncs = template.FuncMap{
	// json leaves <, > and & as they are, as docker's does; objects with
	// their own MarshalJSON (row) still escape theirs.
	"json": func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return strings.TrimSpace(b.String())
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  strings.Join,
	"split": strings.Split,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
	"pad": func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
}

// printRows prints rows with a docker-style format: "" uses def, "table
// TEMPLATE" prints a header row (headers names the columns by field),
// "json" one JSON object per line, anything else the template per row.
func printRows(out io.Writer, format, def string, headers row, rows []row) error {
	objs := make([]any, len(rows))
	for i, r := range rows {
		objs[i] = r
	}
	return printObjects(out, format, def, headers, objs)
}

// printObjects is printRows for rows that are not plain maps: commands
// whose placeholders take arguments ({{.Label "k"}}) or whose JSON form
// holds non-string values give their own types, with methods for the
// placeholders and a MarshalJSON for the "json" format.
func printObjects(out io.Writer, format, def string, headers any, rows []any) error {
	if format == "" {
		format = def
	}
	if format == "json" {
		enc := json.NewEncoder(out)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	table := false
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		table = true
		format = rest
		if strings.TrimSpace(format) == "" {
			format = strings.TrimPrefix(def, "table")
		}
	}
	// As docker's: spaces around the template are dropped, a table's or not.
	format = strings.Trim(format, " ")
	tmpl, err := parseTemplate(format)
	if err != nil {
		return err
	}
	// Rows are rendered into a buffer first so that a template failing on
	// a later row leaves no half-printed table, as with docker.
	var buf bytes.Buffer
	var w io.Writer = &buf
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(&buf, 10, 1, 3, ' ', 0)
		w = tw
		if err := tmpl.Execute(w, headers); err != nil {
			return fmt.Errorf("failed to execute template: %w", err)
		}
		fmt.Fprintln(w)
	}
	for _, r := range rows {
		if err := tmpl.Execute(w, r); err != nil {
			return fmt.Errorf("failed to execute template: %w", err)
		}
		fmt.Fprintln(w)
	}
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err = out.Write(buf.Bytes())
	return err
}

// parseTemplate parses a --format template as docker does: "\t" and "\n"
// written out stand for a tab (a column break) and a newline.
func parseTemplate(format string) (*template.Template, error) {
	format = strings.ReplaceAll(format, `\t`, "\t")
	format = strings.ReplaceAll(format, `\n`, "\n")
	tmpl, err := template.New("").Funcs(templateFuncs).Option("missingkey=zero").Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %v", err)
	}
	return tmpl, nil
}
